"""COCO RLE decoding: hand-worked strings, round trips through an independent encoder, pycocotools."""

from __future__ import annotations

import numpy as np
import pytest
from data.prepare.fake_raw import encode_rle, rle_counts, rle_string

from rns_bench.core.errors import InputError
from rns_bench.data.prepare.coco_rle import counts_from_string, decode_rle


def test_hand_worked_string() -> None:
    # counts [3, 2, 1] → '3' (3+48), '2', '1'; [0, 40] → 40 = 8 + 32·1: '8'|0x20 → 'X', then '1'.
    assert counts_from_string("321").tolist() == [3, 2, 1]
    assert counts_from_string("0X1").tolist() == [0, 40]
    # Column-major: a 2x3 mask whose runs are 0,0,0 | 1,1 | 0 fills column 0, then column 1 ...
    mask = decode_rle({"size": [2, 3], "counts": "321"})
    assert mask.tolist() == [[False, False, True], [False, True, False]]


def test_deltas_and_negative_numbers_round_trip() -> None:
    counts = [5, 100, 3, 2, 400, 1, 7, 0, 9]  # later counts smaller than two back: negative deltas
    assert counts_from_string(rle_string(counts)).tolist() == counts


@pytest.mark.parametrize("compressed", [True, False])
def test_random_masks_round_trip(compressed: bool) -> None:
    rng = np.random.default_rng(0)
    for _ in range(25):
        h, w = rng.integers(1, 40, 2)
        mask = rng.random((h, w)) < rng.random()
        assert (decode_rle(encode_rle(mask, compressed)) == mask).all()


def test_agrees_with_pycocotools() -> None:
    mask_api = pytest.importorskip("pycocotools.mask", reason="pycocotools is an optional cross-check")
    rng = np.random.default_rng(1)
    for _ in range(20):
        mask = (rng.random((int(rng.integers(1, 60)), int(rng.integers(1, 60)))) < 0.3).astype(np.uint8)
        rle = mask_api.encode(np.asfortranarray(mask))
        assert (decode_rle({"size": rle["size"], "counts": rle["counts"].decode()}) == mask).all()
        assert rle_counts(mask) == counts_from_string(rle["counts"]).tolist()


def test_corrupt_rle_is_an_error_naming_the_sizes() -> None:
    with pytest.raises(InputError, match="add up to 6 pixels, but its size is 2x4"):
        decode_rle({"size": [2, 4], "counts": "321"})
    with pytest.raises(InputError, match="truncated"):
        counts_from_string("3X")
    with pytest.raises(InputError, match="not a COCO RLE"):
        decode_rle({"counts": "321"})
