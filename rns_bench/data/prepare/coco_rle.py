"""Decode COCO run-length-encoded masks (PASCAL-in-Detail's ``segmentation`` fields) with pycocotools.

pycocotools is what the field (the Detail API, detectron2, mmseg's converters) decodes these with;
this module only adds the checks it leaves out, as one-line errors: a malformed mapping, uncompressed
run lengths that do not cover the mask, empty counts (pycocotools would return uninitialised memory),
and compressed counts it rejects (longer than the mask, or ending mid-number).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from pycocotools import mask as mask_api

from rns_bench.core.errors import InputError


def decode_rle(rle: Mapping[str, Any]) -> np.ndarray:
    """(h, w) bool mask of a COCO RLE ``{"size": [h, w], "counts": str | bytes | list[int]}``."""
    try:
        height, width = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"not a COCO RLE mask (needs 'size': [h, w] and 'counts'): {str(rle)[:200]}") from error
    if isinstance(counts, str | bytes | bytearray):
        try:
            text = counts.encode("ascii") if isinstance(counts, str) else bytes(counts)
        except UnicodeEncodeError as error:
            raise InputError(
                f"compressed RLE counts of a {height}x{width} mask are not ASCII: the mask is corrupt"
            ) from error
        if not text:
            raise InputError(f"the RLE of a {height}x{width} mask has empty counts: the mask is corrupt")
        compressed = {"size": [height, width], "counts": text}
    else:
        runs = np.asarray(counts, dtype=np.int64)
        if runs.ndim != 1 or (runs < 0).any() or runs.sum() != height * width:
            raise InputError(
                f"RLE run lengths add up to {int(runs.sum())} pixels, but its size is "
                f"{height}x{width} = {height * width}: the mask is corrupt"
            )
        compressed = mask_api.frPyObjects({"size": [height, width], "counts": runs.tolist()}, height, width)
    try:
        with warnings.catch_warnings():  # pycocotools' numpy-2 DeprecationWarning, once per mask otherwise
            warnings.simplefilter("ignore", DeprecationWarning)
            return mask_api.decode(compressed).astype(bool)
    except ValueError as error:
        raise InputError(
            f"the compressed RLE of a {height}x{width} mask is corrupt: its counts run past "
            f"{height * width} pixels or end mid-number (pycocotools: {error})"
        ) from error
