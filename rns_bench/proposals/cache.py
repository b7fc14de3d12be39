"""On-disk region-map cache: one safetensors file per (dataset, image, proposer settings, resolution).

Masks are expensive (features.md "Region proposals"), so they are computed once per
(dataset key + data version, image id, proposer name + settings, test resolution) and shared by
every method, shot count and seed. Writes go to a temp file in the same folder that is
atomically renamed into place, so an interrupted or concurrent run never leaves or reads a
partial entry; nothing is ever unpickled (features.md "Feature cache").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from rns_bench.core.atomic_io import atomic_target, write_text_atomic
from rns_bench.features.cache import settings_key
from rns_bench.ops.resize import LONG_SIDE, PIXEL_PIPELINE
from rns_bench.proposals.base import Proposer


def region_cache_settings(proposer: Proposer, short_side: int | None, data_version: str = "") -> dict[str, Any]:
    """Everything that changes a cached region map: the proposer and its settings, the test
    resolution (mmseg keep-ratio resize to (LONG_SIDE, short_side)), how the image was decoded and
    resized (``PIXEL_PIPELINE``) and the dataset files."""
    return {"proposer": proposer.name, "settings": proposer.settings(), "short_side": short_side,
            "long_side": LONG_SIDE, "pixel_pipeline": PIXEL_PIPELINE, "data_version": data_version}


class RegionCache:
    """Directory ``root/<dataset>/regions/<proposer>-<settings hash>/<image id>.safetensors``
    (plus ``key.json``, the settings in words).

    Each entry holds ``regions``: the (H_r, W_r) int32 region map of the resized test image.
    Temp files are hidden (``.<entry>.<pid>-<token>.tmp``, ``rns_bench.core.atomic_io``).
    """

    def __init__(self, root: Path, dataset: str, proposer: Proposer, short_side: int | None,
                 data_version: str = ""):
        self.settings = region_cache_settings(proposer, short_side, data_version)
        self.dir = Path(root) / dataset / "regions" / f"{proposer.name}-{settings_key(self.settings)}"

    def path(self, image_id: str) -> Path:
        return self.dir / f"{image_id.replace('/', '__')}.safetensors"

    def load(self, image_id: str) -> torch.Tensor | None:
        """The cached (H_r, W_r) int32 region map, or None (absent or unreadable: recompute)."""
        path = self.path(image_id)
        if not path.exists():
            return None
        try:
            regions = load_file(str(path)).get("regions")
        except (SafetensorError, OSError):
            return None
        if regions is None or regions.ndim != 2 or regions.dtype != torch.int32:
            return None
        return regions

    def save(self, image_id: str, regions: torch.Tensor) -> None:
        """Write one entry atomically (temp file + os.replace); concurrent writers of the same
        entry each write a complete file and the last rename wins."""
        if regions.ndim != 2 or regions.dtype != torch.int32:
            raise ValueError(f"region maps are cached as 2-D int32, got {tuple(regions.shape)} {regions.dtype}")
        self.dir.mkdir(parents=True, exist_ok=True)
        key_file = self.dir / "key.json"
        if not key_file.exists():  # says what this folder holds; not read back
            write_text_atomic(key_file, json.dumps(self.settings, indent=2, sort_keys=True, default=str) + "\n")
        with atomic_target(self.path(image_id)) as tmp:
            save_file({"regions": regions.contiguous().cpu()}, str(tmp),
                      metadata={"settings": json.dumps(self.settings, sort_keys=True, default=str),
                                "num_regions": str(int(regions.max()) + 1)})
