"""Tiny fake raw inputs of the preparation steps, written by the tests (no real data is ever read).

The RLE encoder follows pycocotools' ``rleToString`` (C) line by line; it shares no code with
``rns_bench.data.prepare.coco_rle``, so decoding what it encodes is an independent check.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def rle_counts(mask: np.ndarray) -> list[int]:
    """Run lengths of a (h, w) 0/1 mask in column-major order, starting with a run of 0s."""
    flat = np.asarray(mask, dtype=bool).T.ravel()  # column-major
    counts, current, run = [], False, 0
    for value in flat:
        if value == current:
            run += 1
        else:
            counts.append(run)
            current, run = value, 1
    counts.append(run)
    return counts


def rle_string(counts: list[int]) -> str:
    """pycocotools' ``rleToString``: 5-bit groups + 48, deltas to the count two back from index 3 on."""
    chars = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift, as on C's signed long
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            chars.append(chr(c + 48))
    return "".join(chars)


def encode_rle(mask: np.ndarray, compressed: bool = True) -> dict:
    counts = rle_counts(mask)
    return {"size": list(mask.shape), "counts": rle_string(counts) if compressed else counts}


def write_detail_json(path: Path, images: list[dict], annotations: list[dict]) -> Path:
    """A PASCAL-in-Detail style file with just the keys the conversion reads (plus one it ignores)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annos_segmentation": annotations, "categories": []}))
    return path


def write_raw_png(path: Path, values: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(values, dtype=np.uint8)).save(path)
    return path


def write_polygons(path: Path, height: int, width: int, objects: list[dict]) -> Path:
    """A Cityscapes ``*_gtFine_polygons.json``: objects are {"label", "polygon": [[x, y], ...]}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"imgHeight": height, "imgWidth": width, "objects": objects}))
    return path


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.mode == "L", f"{path} is {image.mode}, expected greyscale"
        return np.array(image)


def files_under(folder: Path) -> dict[str, int]:
    """Relative path → mtime_ns of every file, hidden temporaries included."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}
