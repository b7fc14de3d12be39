"""On-disk region-map cache: one lossless PNG per (dataset, image, proposer settings, resolution).

Masks are expensive (features.md "Region proposals"), so they are computed once per
(dataset key + data version, image id, proposer name + settings, test resolution) and shared by
every method, shot count and seed. Writes go to a temp file in the same folder that is
atomically renamed into place, so an interrupted or concurrent run never leaves or reads a
partial entry; nothing is ever unpickled (features.md "Feature cache").

Entries are compact: ids are stored in the smallest unsigned type that holds them (an 8-bit or
16-bit greyscale PNG), or, from 65,536 regions on (or for negative ids), as the four little-endian
bytes of each int32 in a 4-channel 8-bit PNG. PNG's deflate makes a region map 40x (felzenszwalb)
to 600x (few large regions) smaller than raw int32, and its chunk CRCs make a damaged entry
unreadable rather than wrong.
Entries of the earlier format (uncompressed int32 ``.safetensors``) are not read: ``ENTRY_FORMAT``
is part of the folder's settings hash and the suffix changed, so they simply stop matching and are
recomputed (delete the old folders to reclaim their space).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from rns_bench.core.atomic_io import atomic_target, write_text_atomic
from rns_bench.features.cache import settings_key
from rns_bench.ops.resize import LONG_SIDE, PIXEL_PIPELINE
from rns_bench.proposals.base import Proposer

ENTRY_FORMAT = "png-v1"
ENTRY_SUFFIX = ".png"
# Deflate effort: 6 is ~1.6x smaller than OpenCV's default 1 for a few ms more per map (the
# proposer that made the map took far longer); decoding speed does not depend on it.
PNG_COMPRESSION = 6


def region_cache_settings(proposer: Proposer, short_side: int | None, data_version: str = "") -> dict[str, Any]:
    """Everything that changes a cached region map: the proposer and its settings, the test
    resolution (mmseg keep-ratio resize to (LONG_SIDE, short_side)), how the image was decoded and
    resized (``PIXEL_PIPELINE``), the dataset files, and how entries are stored (``ENTRY_FORMAT``)."""
    return {
        "proposer": proposer.name,
        "settings": proposer.settings(),
        "short_side": short_side,
        "long_side": LONG_SIDE,
        "pixel_pipeline": PIXEL_PIPELINE,
        "data_version": data_version,
        "format": ENTRY_FORMAT,
    }


class RegionCache:
    """Directory ``root/<dataset>/regions/<proposer>-<settings hash>/<image id>.png``
    (plus ``key.json``, the settings in words).

    Each entry holds the (H_r, W_r) region map of the resized test image (int32 in and out; stored
    as described in the module docstring). Temp files are hidden (``.<entry>.<host>.<pid>.<token>.tmp``,
    ``rns_bench.core.atomic_io``).
    """

    def __init__(self, root: Path, dataset: str, proposer: Proposer, short_side: int | None, data_version: str = ""):
        self.settings = region_cache_settings(proposer, short_side, data_version)
        self.dir = Path(root) / dataset / "regions" / f"{proposer.name}-{settings_key(self.settings)}"

    def path(self, image_id: str) -> Path:
        return self.dir / f"{image_id.replace('/', '__')}{ENTRY_SUFFIX}"

    def load(self, image_id: str) -> torch.Tensor | None:
        """The cached (H_r, W_r) int32 region map, or None (absent or unreadable: recompute)."""
        try:
            data = np.fromfile(self.path(image_id), dtype=np.uint8)
        except OSError:  # absent (or vanished), unreadable
            return None
        return decode_region_map(data)

    def save(self, image_id: str, regions: torch.Tensor) -> None:
        """Write one entry atomically (temp file + os.replace); concurrent writers of the same
        entry each write a complete file and the last rename wins."""
        if regions.ndim != 2 or regions.dtype != torch.int32 or regions.numel() == 0:
            raise ValueError(
                f"region maps are cached as non-empty 2-D int32, got {tuple(regions.shape)} {regions.dtype}"
            )
        encoded = encode_region_map(regions)
        self.dir.mkdir(parents=True, exist_ok=True)
        key_file = self.dir / "key.json"
        if not key_file.exists():  # says what this folder holds; not read back
            write_text_atomic(key_file, json.dumps(self.settings, indent=2, sort_keys=True, default=str) + "\n")
        with atomic_target(self.path(image_id)) as tmp:
            tmp.write_bytes(encoded)


def encode_region_map(regions: torch.Tensor) -> bytes:
    """A non-empty (H, W) int32 map → the bytes of a lossless PNG in the smallest type that holds its ids."""
    ids = regions.detach().cpu().numpy()
    low, high = int(ids.min()), int(ids.max())
    if low >= 0 and high <= np.iinfo(np.uint16).max:
        image = ids.astype(np.uint8 if high <= np.iinfo(np.uint8).max else np.uint16)
    else:  # each int32 as its 4 little-endian bytes, one per channel (PNG has no 32-bit greyscale)
        image = np.ascontiguousarray(ids, dtype="<i4").view(np.uint8).reshape(*ids.shape, 4)
    ok, encoded = cv2.imencode(ENTRY_SUFFIX, image, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise OSError(f"OpenCV could not encode a {image.shape} {image.dtype} region map as PNG")
    return encoded.tobytes()


def decode_region_map(data: np.ndarray) -> torch.Tensor | None:
    """Bytes (uint8 array) of :func:`encode_region_map` → the (H, W) int32 map; None if not such a PNG."""
    if data.size == 0:
        return None  # cv2.imdecode asserts on an empty buffer
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)  # None when damaged (libpng checks every CRC)
    except cv2.error:
        return None
    if image is None:
        return None
    if image.ndim == 2 and image.dtype in (np.uint8, np.uint16):
        return torch.from_numpy(image.astype(np.int32))
    if image.ndim == 3 and image.shape[2] == 4 and image.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(image).view("<i4")[..., 0].astype(np.int32))
    return None
