"""Open-world use: a method with a vocabulary and a support set that change at run time (paper §3).

``OpenWorldSegmenter`` holds one backbone, its support and test feature stores (the backbone's
protocol settings, ``configs/backbone/<name>.yaml``) and one open-vocabulary method (RNS, kNN-CLIP,
FREEDA, zero-shot). Classes and support images are added, removed and renamed while it runs; each
change costs what it adds: the text feature of a new name only, the features of new support
images only (the bank updates incrementally, rns spec §1). Images are keyed by the sha256 of their
pixels, so with a ``cache_dir`` the features of an image seen before — by this process or an earlier
one — are read back, never recomputed.

    segmenter = OpenWorldSegmenter.create("toy_vlm", "rns", ["background", "dog", "couch"])
    segmenter.add_class("my dog", images=[photo], masks=[photo_mask])   # masks: True = that object
    label_map = segmenter.segment(image)                                 # (H, W) indices into .class_names
    segmenter.rename_class("couch", "sofa")
    segmenter.remove_class("my dog")

Importing this module registers ``toy_vlm`` (``rns_bench.toy``), so the example of docs/open-world.md runs
as written; ``toy_vlm`` knows the toy world's class names (and "my <class>") only, a real backbone any name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from rns_bench.backbones import build_backbone
from rns_bench.backbones.base import Backbone
from rns_bench.core.errors import InputError
from rns_bench.core.labels import IGNORE_INDEX
from rns_bench.core.paths import CONFIG_DIR
from rns_bench.features.cache import FeatureCache, FeatureKey
from rns_bench.features.settings import settings_from_config
from rns_bench.features.store import FeatureStore
from rns_bench.methods import build_method, load_methods
from rns_bench.methods.base import SegMethod
from rns_bench.ops.resize import resize_label
from rns_bench.support.bank import SupportBank


def image_key(image: np.ndarray) -> str:
    """The id of an (H, W, 3) uint8 image: the sha256 of its shape and pixels (same pixels, same id)."""
    digest = hashlib.sha256(str(image.shape).encode() + np.ascontiguousarray(image).tobytes()).hexdigest()
    return f"sha256-{digest[:32]}"


class OpenWorldSegmenter:
    """One open-vocabulary method on one backbone, with a live vocabulary and support set (module doc)."""

    def __init__(
        self,
        backbone: Backbone,
        backbone_config: Mapping[str, Any],
        method: str,
        class_names: Sequence[str],
        options: Mapping[str, Any] | None = None,
        cache_dir: Path | None = None,
        image_batch: int = 8,
    ):
        names = list(class_names)
        if not names:
            raise InputError("give one or more class names")
        require_distinct(names, "the class names")
        self.backbone = backbone
        self.stores = {
            split: self._store(backbone_config, split, cache_dir, image_batch) for split in ("support", "test")
        }
        self.method: SegMethod = build_method(method, names, backbone.patch_size, dict(options or {}))
        _require_open_vocabulary(method)
        self.text_encodings = 0  # names sent to the text encoder (each new name once)
        self._images: dict[str, np.ndarray] = {}  # support image id → pixels (for features on demand)
        text = self._encode_text(names)
        self.method.attach_support(SupportBank(len(names), backbone.dim), text)

    @classmethod
    def create(
        cls,
        backbone: str,
        method: str,
        class_names: Sequence[str],
        options: Mapping[str, Any] | None = None,
        cache_dir: Path | None = None,
        backbone_options: Mapping[str, Any] | None = None,
    ) -> OpenWorldSegmenter:
        """From a registered backbone's config (``configs/backbone/<backbone>.yaml``: its options and
        extraction settings; ``backbone_options`` override the options)."""
        check_method(method, options)  # before a backbone loads
        require_distinct(list(class_names), "the class names")
        config = backbone_config(backbone)
        built = build_backbone(str(config["name"]), **{**(config.get("options") or {}), **(backbone_options or {})})
        return cls(built, config, method, class_names, options, cache_dir)

    # ---------------------------------------------------------------- vocabulary
    @property
    def class_names(self) -> list[str]:
        return list(self.method.class_names)

    def add_class(self, name: str, images: Sequence[np.ndarray] = (), masks: Sequence[np.ndarray] = ()) -> int:
        """Add class ``name`` (its text feature only is computed), optionally with support ``images``
        and boolean ``masks`` of it (True = the class, elsewhere ignored). Returns its index."""
        if len(images) != len(masks):
            raise InputError(f"class {name!r}: {len(images)} images but {len(masks)} masks; give one mask per image")
        index = self.method.add_class(name, self._encode_text([name])[0] if self.method.text is not None else None)
        for image, mask in zip(images, masks, strict=True):
            self.add_support(image, _mask_label(np.asarray(mask), index, image, name))
        return index

    def remove_class(self, name: str) -> None:
        self.method.remove_class(name)

    def rename_class(self, name: str, new_name: str) -> None:
        text = self._encode_text([new_name])[0] if self.method.text is not None else None
        self.method.rename_class(name, new_name, text)

    # ------------------------------------------------------------------ support
    def add_support(self, image: np.ndarray, label: np.ndarray) -> str:
        """Add one support image with its (H, W) label of class indices (255 = ignore); returns its id.
        Only this image is extracted (or read from the cache)."""
        image = _rgb(image)
        label = np.asarray(label)
        if label.shape != image.shape[:2]:
            raise InputError(
                f"support label is {label.shape[0]}x{label.shape[1]} but its image "
                f"{image.shape[0]}x{image.shape[1]}; they must match pixel for pixel"
            )
        bad = np.setdiff1d(np.unique(label), [*range(self.method.num_classes), IGNORE_INDEX])
        if bad.size:
            raise InputError(
                f"support label holds class {int(bad[0])}, but the vocabulary has "
                f"{self.method.num_classes} classes ({', '.join(self.class_names)}) and 255 = ignore"
            )
        image_id = image_key(image)
        if image_id in self.method.bank.image_ids:
            raise InputError(f"this support image is already in the bank ({image_id}); remove_support first")
        self._images[image_id] = image
        dense = self.stores["support"].get([image_id], self._images.__getitem__, desc="support features")[0]
        resized = resize_label(label.astype(np.uint8), dense.resized_hw)
        self.method.add_support_image(image_id, dense.features, torch.from_numpy(resized.astype(np.int64)))
        return image_id

    def remove_support(self, image_id: str) -> None:
        self.method.remove_support_image(image_id)
        self._images.pop(image_id, None)

    @property
    def support_images(self) -> list[str]:
        return list(dict.fromkeys(self.method.bank.image_ids))

    # -------------------------------------------------------------- prediction
    def segment(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray | list[np.ndarray]:
        """(H, W) uint8 label maps (indices into :attr:`class_names`) of one image or a list of them."""
        single = isinstance(images, np.ndarray) and images.ndim == 3
        batch = [_rgb(image) for image in ([images] if single else images)]
        ids = [image_key(image) for image in batch]
        pixels = dict(zip(ids, batch, strict=True))
        dense = self.stores["test"].get(ids, pixels.__getitem__, desc="test features")
        items = [
            {
                "image_id": i,
                "features": d.features,
                "resized_hw": d.resized_hw,
                "label": torch.empty(image.shape[:2], dtype=torch.uint8),
            }
            for i, d, image in zip(ids, dense, batch, strict=True)
        ]
        method = self.method
        with torch.no_grad():
            probs = method.predict_probs([method.queries_of(item) for item in items], ids)
            maps = [
                method.label_map_of(item, p).cpu().numpy().astype(np.uint8)
                for item, p in zip(items, probs, strict=True)
            ]
        return maps[0] if single else maps

    def in_disk_cache(self, split: str, image: np.ndarray) -> bool:
        """Whether the disk cache holds the ``split`` ("support" or "test") features of ``image``: using them
        runs no backbone and writes nothing."""
        cache = self.stores[split].cache
        return cache is not None and cache.has(image_key(_rgb(image)))

    def cache_folder(self, split: str) -> Path | None:
        """The folder the disk cache keeps ``split``'s features in (None without a cache; maybe not there yet)."""
        cache = self.stores[split].cache
        return None if cache is None else cache.dir

    @property
    def images_extracted(self) -> dict[str, int]:
        """Images each store ran through the backbone (not from memory or the cache)."""
        return {split: store.extracted for split, store in self.stores.items()}

    # ---------------------------------------------------------------- internals
    def _encode_text(self, names: list[str]) -> torch.Tensor:
        self.text_encodings += len(names)
        with torch.no_grad():
            return self.backbone.encode_text(names).float().cpu()

    def _store(
        self, backbone_config: Mapping[str, Any], split: str, cache_dir: Path | None, image_batch: int
    ) -> FeatureStore:
        settings = settings_from_config(backbone_config, split)
        cache = None
        if cache_dir is not None:
            identity = {**(backbone_config.get("options") or {}), **self.backbone.provenance()}
            key = FeatureKey.create(str(backbone_config["name"]), identity, settings, "float32")
            cache = FeatureCache(Path(cache_dir), key)
        return FeatureStore(self.backbone, cache, settings, image_batch=image_batch)


def backbone_names() -> list[str]:
    """The registered backbone configs (``configs/backbone/<name>.yaml``), by name."""
    return sorted(p.stem for p in (CONFIG_DIR / "backbone").glob("*.yaml"))


def backbone_config(backbone: str) -> dict[str, Any]:
    """``configs/backbone/<backbone>.yaml`` as a dict (name, options, extraction settings)."""
    path = CONFIG_DIR / "backbone" / f"{backbone}.yaml"
    if not path.is_file():
        raise InputError(f"no backbone config {path}; backbones: {', '.join(backbone_names())}")
    config = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    return config.get("backbone", config)


def open_vocabulary_methods() -> list[str]:
    """The registered methods that can change their classes at run time (the ones this facade runs)."""
    methods = load_methods()
    return [name for name in methods.names() if getattr(methods.get(name), "open_vocabulary", True)]


def require_distinct(names: Sequence[str], source: str) -> None:
    """Refuse a class named twice in ``names`` (read from ``source``), naming it and both positions (from 1)."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, 1):
        if name in seen:
            raise InputError(
                f"class {name!r} is named twice in {source} (names {seen[name]} and {position}); name every class once"
            )
        seen[name] = position


def check_method(method: str, options: Mapping[str, Any] | None = None) -> None:
    """Refuse a closed-vocabulary method or a misspelt / invalid option before any file is decoded or
    a model loads (building the method itself reads nothing)."""
    _require_open_vocabulary(method)
    build_method(method, ["check"], 16, dict(options or {}))


def _require_open_vocabulary(method: str) -> None:
    if not getattr(load_methods().get(method), "open_vocabulary", True):
        raise InputError(
            f"method {method!r} is closed-vocabulary and cannot change its classes at run time; "
            f"use rns, knn_clip, freeda or zero_shot"
        )


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"an image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    return image


def _mask_label(mask: np.ndarray, index: int, image: np.ndarray, name: str) -> np.ndarray:
    if mask.shape != np.asarray(image).shape[:2]:
        raise InputError(f"class {name!r}: a mask is {mask.shape} but its image {np.asarray(image).shape[:2]}")
    if not mask.any():
        raise InputError(f"class {name!r}: a mask marks no pixel; give the object's pixels (True / nonzero)")
    return np.where(mask.astype(bool), index, IGNORE_INDEX).astype(np.uint8)
