"""What a sweep needs of a backbone once every feature is cached, and a stand-in that serves it.

A sweep over cached features still asks its backbone for three things: the text features of the
class names, the patch size and feature dimension (support banks, region pooling), and its
provenance (part of the feature-cache key and of every record). A **backbone card** holds them:

    <cache_dir>/backbones/<backbone>-<digest>.safetensors    text (K, D) float32
        metadata "card": {backbone, options, provenance, patch_size, dim, names, format}

It is found by what the config says of the backbone (name and options, runtime options left out as
in ``FeatureKey``); its provenance completes that ``FeatureKey`` exactly as the built backbone's would.
A reproduction pack carries one per backbone; ``CachedBackbone`` serves it when
``extraction.backbone=cached``, so every method that works on features runs with no weights and no
GPU. Asked for an image's features (one missing from the cache) or an unknown name, it says so in
one line instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from rns_bench.backbones.base import Backbone
from rns_bench.core.atomic_io import atomic_target
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.features.cache import RUNTIME_OPTIONS, settings_key

CARD_FORMAT = "backbone-card-v1"
CARDS_FOLDER = "backbones"


def config_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """A backbone's options as the cache keys them: runtime options (device, cache folders) left out."""
    return {k: v for k, v in (options or {}).items() if k not in RUNTIME_OPTIONS}


def card_path(cache_dir: Path, backbone: str, options: dict[str, Any] | None) -> Path:
    """Where the card of ``backbone`` with ``options`` lives under ``cache_dir``."""
    digest = settings_key({"backbone": backbone, "options": config_options(options), "format": CARD_FORMAT})
    return Path(cache_dir) / CARDS_FOLDER / f"{backbone}-{digest}.safetensors"


@dataclass(frozen=True)
class BackboneCard:
    """A backbone's text features of ``names`` ((K, D) float32, unit rows), patch size, dim and provenance."""

    backbone: str
    options: dict[str, Any]
    provenance: dict[str, Any]
    patch_size: int
    dim: int
    names: tuple[str, ...]
    text: torch.Tensor

    @classmethod
    def of(
        cls, backbone: Backbone, name: str, options: dict[str, Any] | None, class_names: list[str], text: torch.Tensor
    ) -> BackboneCard:
        """The card of a built ``backbone`` (registered as ``name`` with ``options``) whose text features of
        ``class_names`` are ``text`` (K, D) (``RunContext.text_features``: what the sweep used)."""
        return cls(
            name,
            config_options(options),
            dict(backbone.provenance()),
            int(backbone.patch_size),
            int(backbone.dim),
            tuple(class_names),
            text.float().cpu(),
        )

    def describe(self) -> dict[str, Any]:
        """The card without its text features (JSON-ready: file metadata, pack manifests)."""
        return {
            "backbone": self.backbone,
            "options": self.options,
            "provenance": self.provenance,
            "patch_size": self.patch_size,
            "dim": self.dim,
            "names": list(self.names),
            "format": CARD_FORMAT,
        }

    def merged(self, newer: BackboneCard) -> BackboneCard:
        """This card with ``newer``'s names added (``newer``'s rows, provenance and sizes win)."""
        rows = dict(zip(self.names, self.text, strict=True)) if newer.provenance == self.provenance else {}
        rows.update(zip(newer.names, newer.text, strict=True))
        names = tuple(rows)
        return BackboneCard(
            newer.backbone,
            newer.options,
            newer.provenance,
            newer.patch_size,
            newer.dim,
            names,
            torch.stack([rows[n] for n in names]),
        )


def save_card(path: Path, card: BackboneCard) -> None:
    """Write ``card`` to ``path`` atomically."""
    metadata = {"card": json.dumps(card.describe(), sort_keys=True)}
    with atomic_target(path) as tmp:
        save_file({"text": card.text.float().contiguous()}, str(tmp), metadata=metadata)


def load_card(path: Path) -> BackboneCard:
    """The card at ``path``; an InputError naming the file when it is not one."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            described = json.loads((handle.metadata() or {})["card"])
            text = handle.get_tensor("text")
        if described.get("format") != CARD_FORMAT or text.shape != (len(described["names"]), described["dim"]):
            raise ValueError(f"format {described.get('format')!r}, text {tuple(text.shape)}")
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as error:
        raise InputError(
            f"{path} is not a readable backbone card ({type(error).__name__}: {error}); import its pack again"
        ) from None
    return BackboneCard(
        described["backbone"],
        described["options"],
        described["provenance"],
        int(described["patch_size"]),
        int(described["dim"]),
        tuple(described["names"]),
        text,
    )


class CachedBackbone(Backbone):
    """A backbone that is only its card: text features, patch size, dim and provenance, no weights.

    ``encode_image`` refuses (every image's features must come from the cache); no parameters, so
    ``device_of`` says CPU and nothing asks for a GPU."""

    def __init__(self, card: BackboneCard, source: Path | str):
        super().__init__()
        self.card, self.source = card, str(source)
        self.name, self.patch_size, self.dim = card.backbone, card.patch_size, card.dim
        self._rows = {name: index for index, name in enumerate(card.names)}

    def provenance(self) -> dict[str, Any]:
        return dict(self.card.provenance)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        raise InputError(
            f"backbone {self.name} is the stand-in of {self.source} (extraction.backbone=cached): an image "
            "whose features are not in cache_dir cannot be extracted; import the pack that holds them "
            "(python -m rns_bench.features import pack=...) or set extraction.backbone=build"
        )

    def encode_text(self, class_names: list[str]) -> torch.Tensor:
        """K names → (K, D) text features, each looked up in the card."""
        missing = [name for name in class_names if name not in self._rows]
        if missing:
            raise InputError(
                f"no text features of class {missing[0]!r} in {self.source} (backbone {self.name}, "
                f"extraction.backbone=cached; it holds {len(self._rows)} names): import a pack of this "
                "dataset, or set extraction.backbone=build"
            )
        return self.card.text[[self._rows[name] for name in class_names]].clone()


def cached_backbone(cache_dir: Path | None, backbone: str, options: dict[str, Any] | None) -> CachedBackbone:
    """The stand-in of ``backbone`` with ``options`` from its card under ``cache_dir``."""
    if not cache_dir:
        raise ConfigError("extraction.backbone=cached reads features and text from cache_dir: set cache_dir")
    path = card_path(cache_dir, backbone, options)
    if not path.is_file():
        raise InputError(
            f"extraction.backbone=cached: no card of backbone {backbone} with these options under {cache_dir} "
            f"({path.name}); import a reproduction pack first (python -m rns_bench.features import pack=...) "
            "or set extraction.backbone=build"
        )
    return CachedBackbone(load_card(path), path)
