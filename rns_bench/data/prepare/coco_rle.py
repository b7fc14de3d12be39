"""Decode COCO run-length-encoded masks (the format of PASCAL-in-Detail's ``segmentation`` fields).

A mask of size (h, w) is flattened in column-major order and stored as alternating run
lengths, starting with a run of 0s. ``counts`` is either that list, or the compressed string
of pycocotools' ``rleToString``: each count as 5-bit groups, least significant first, in
characters offset by 48 (bit 0x20 = "more groups follow", 0x10 of the last group = sign),
every count after the third stored as the difference to the count two places earlier.
Vectorised with numpy so decoding thousands of masks needs neither pycocotools nor a loop
per character.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rns_bench.core.errors import InputError


def counts_from_string(text: str | bytes) -> np.ndarray:
    """(M,) int64 run lengths of a compressed RLE string (inverse of pycocotools' rleToString)."""
    codes = np.frombuffer(text.encode("ascii") if isinstance(text, str) else bytes(text), np.uint8)
    if codes.size == 0:
        return np.zeros(0, np.int64)
    codes = codes.astype(np.int64) - 48
    if codes.min() < 0 or codes.max() > 63:
        raise InputError("compressed RLE counts hold characters outside the 48..111 range of rleToString")
    last = (codes & 0x20) == 0  # the last 5-bit group of each count
    if not last[-1]:
        raise InputError("compressed RLE counts end in the middle of a number (truncated string)")
    starts = np.r_[0, np.flatnonzero(last)[:-1] + 1]
    number = np.cumsum(np.r_[0, last[:-1]])  # which count each character belongs to
    group = np.arange(codes.size) - starts[number]  # 0 for the least significant 5 bits
    values = np.add.reduceat((codes & 0x1F) << (5 * group), starts)
    lengths = np.diff(np.r_[starts, codes.size])
    negative = (codes[last] & 0x10) != 0  # sign bit of the last group: extend with ones
    values = np.where(negative, values - (np.int64(1) << (5 * lengths)), values)
    counts = values.copy()
    # Counts from index 3 on are deltas to the count two places back: undo per parity class.
    counts[1::2] = np.cumsum(values[1::2])
    counts[2::2] = np.cumsum(values[2::2])
    return counts


def decode_rle(rle: Mapping[str, Any]) -> np.ndarray:
    """(h, w) bool mask of a COCO RLE ``{"size": [h, w], "counts": str | list[int]}``."""
    try:
        height, width = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"not a COCO RLE mask (needs 'size': [h, w] and 'counts'): {str(rle)[:200]}") from error
    runs = counts_from_string(counts) if isinstance(counts, str | bytes) else np.asarray(counts, dtype=np.int64)
    if runs.ndim != 1 or (runs < 0).any() or runs.sum() != height * width:
        raise InputError(f"RLE run lengths add up to {int(runs.sum())} pixels, but its size is "
                         f"{height}x{width} = {height * width}: the mask is corrupt")
    values = np.zeros(runs.size, dtype=bool)
    values[1::2] = True  # runs alternate 0, 1, 0, ... starting with 0s
    return np.repeat(values, runs).reshape(width, height).T  # column-major
