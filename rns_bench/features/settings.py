"""How a backbone's dense features are extracted, as data (protocol §3).

Each backbone has two settings, read from ``configs/backbone/<name>.yaml``: ``test`` (test
images) and ``support`` (support images). One setting is a short side S for the keep-ratio
resize to scale (2048, S) (None = original size) and either ``windows=None`` (one whole-image
forward) or sliding windows of one or more (crop, stride) pairs; with several pairs the
feature maps of each crop size are averaged (the OpenCLIP support setting: crops 448 and 224,
stride 112). The YAML schema is documented at the top of ``configs/backbone/toy_vlm.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rns_bench.core.errors import ConfigError

FEATURE_SPLITS = ("test", "support")
_SETTING_KEYS = {"short_side", "windows"}


@dataclass(frozen=True)
class WindowSpec:
    """One sliding-window grid: square crops of ``crop`` pixels every ``stride`` pixels (mmseg ``slide``)."""

    crop: int
    stride: int

    def __post_init__(self) -> None:
        if self.crop < 1 or self.stride < 1:
            raise ConfigError(f"window crop and stride must be positive, got crop={self.crop}, stride={self.stride}")
        if self.stride > self.crop:  # patches between windows would get no feature at all
            raise ConfigError(
                f"window stride {self.stride} exceeds the crop {self.crop}: some pixels would be in "
                "no window; use stride <= crop"
            )


@dataclass(frozen=True)
class ExtractionSettings:
    """Resolution and windows of one feature split (test or support).

    short_side: S of the keep-ratio resize to (2048, S); None = the image's own size.
    windows: None = one forward of the whole (padded) image; else the sliding-window grids whose
    feature maps are averaged (one grid = plain mmseg sliding inference).
    """

    short_side: int | None = None
    windows: tuple[WindowSpec, ...] | None = None

    def __post_init__(self) -> None:
        if self.short_side is not None and self.short_side < 1:
            raise ConfigError(f"short_side must be a positive integer or null, got {self.short_side}")
        if self.windows is not None and not self.windows:
            raise ConfigError("windows must be null (whole image) or a non-empty list of {crop, stride}")

    def describe(self) -> dict[str, Any]:
        """JSON-ready form (cache keys, records): ``{"short_side": S, "windows": [[crop, stride], ...] | None}``."""
        windows = None if self.windows is None else [[w.crop, w.stride] for w in self.windows]
        return {"short_side": self.short_side, "windows": windows}

    def label(self) -> str:
        """Short human form, e.g. ``S448 448/224`` or ``S448 448/112+224/112`` or ``orig whole``."""
        size = "orig" if self.short_side is None else f"S{self.short_side}"
        grid = "whole" if self.windows is None else "+".join(f"{w.crop}/{w.stride}" for w in self.windows)
        return f"{size} {grid}"


def settings_from_config(backbone_config: Mapping[str, Any], split: str) -> ExtractionSettings:
    """The ``split`` ('test' | 'support') settings of a backbone config (a ``configs/backbone/*.yaml`` mapping).

    A ``test:`` / ``support:`` block gives ``short_side`` and ``windows``; a key it leaves out takes
    the top-level ``short_side`` and whole-image windows, so a file with only ``short_side`` (the
    schema before windows) keeps meaning one whole-image forward at that size for both splits.
    """
    if split not in FEATURE_SPLITS:
        raise ConfigError(f"feature split must be one of {', '.join(FEATURE_SPLITS)}, got {split!r}")
    source = _source(backbone_config)
    block = backbone_config.get(split) or {}
    if not isinstance(block, Mapping):
        raise ConfigError(f"{source}: `{split}:` must be a mapping with short_side and windows, got {block!r}")
    unknown = set(block) - _SETTING_KEYS
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {sorted(unknown)} under `{split}:`; valid keys: {sorted(_SETTING_KEYS)}"
        )
    if "short_side" not in block and "short_side" not in backbone_config:
        raise ConfigError(
            f"{source}: no short_side for the {split} features; set `short_side:` at the top level "
            f"or under `{split}:` (null = original size)"
        )
    short_side = block["short_side"] if "short_side" in block else backbone_config["short_side"]
    return ExtractionSettings(short_side=short_side, windows=_windows(block.get("windows"), source, split))


def _windows(raw: Any, source: str, split: str) -> tuple[WindowSpec, ...] | None:
    if raw is None:
        return None
    example = "e.g. windows: [{crop: 448, stride: 224}]"
    if isinstance(raw, Mapping) or not hasattr(raw, "__iter__"):
        raise ConfigError(f"{source}: `{split}.windows` must be null or a list of {{crop, stride}}; {example}")
    windows = []
    for entry in raw:
        if not isinstance(entry, Mapping) or set(entry) != {"crop", "stride"}:
            raise ConfigError(
                f"{source}: each `{split}.windows` entry needs exactly crop and stride, got {entry!r}; {example}"
            )
        windows.append(WindowSpec(int(entry["crop"]), int(entry["stride"])))
    return tuple(windows)


def _source(backbone_config: Mapping[str, Any]) -> str:
    return f"configs/backbone/{backbone_config.get('name', '<name>')}.yaml"
