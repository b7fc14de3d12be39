"""COCO RLE decoding (pycocotools plus our checks): hand-worked strings, round trips through the tests'
own encoder (tests/data/prepare/fake_raw.py, written from the format, independent of pycocotools)."""

from __future__ import annotations

import numpy as np
import pytest
from data.prepare.fake_raw import encode_rle, rle_counts, rle_string
from pycocotools import mask as mask_api

from rns_bench.core.errors import InputError
from rns_bench.data.prepare.coco_rle import decode_rle


def test_hand_worked_strings() -> None:
    # Column-major: a 2x3 mask whose runs are 0,0,0 | 1,1 | 0 fills column 0, then column 1 ...
    mask = decode_rle({"size": [2, 3], "counts": "321"})
    assert mask.tolist() == [[False, False, True], [False, True, False]]
    # counts [0, 40]: 40 = 8 + 32·1 → '8'|0x20 = 'X', then '1' — forty 1s.
    assert decode_rle({"size": [5, 8], "counts": "0X1"}).all()


def test_deltas_and_negative_numbers_decode() -> None:
    counts = [5, 100, 3, 2, 400, 1, 7, 0, 9]  # later counts smaller than two back: negative deltas
    expected = np.repeat(np.arange(len(counts)) % 2 == 1, counts)
    assert (decode_rle({"size": [1, sum(counts)], "counts": rle_string(counts)})[0] == expected).all()


@pytest.mark.parametrize("compressed", [True, False])
def test_random_masks_round_trip(compressed: bool) -> None:
    rng = np.random.default_rng(0)
    for _ in range(25):
        h, w = rng.integers(1, 40, 2)
        mask = rng.random((h, w)) < rng.random()
        assert (decode_rle(encode_rle(mask, compressed)) == mask).all()


def test_the_tests_encoder_writes_what_pycocotools_writes() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        mask = (rng.random((int(rng.integers(1, 60)), int(rng.integers(1, 60)))) < 0.3).astype(np.uint8)
        assert mask_api.encode(np.asfortranarray(mask))["counts"].decode() == rle_string(rle_counts(mask))


def test_corrupt_rle_is_an_error_naming_the_sizes() -> None:
    with pytest.raises(InputError, match="add up to 6 pixels, but its size is 2x4"):
        decode_rle({"size": [2, 4], "counts": [3, 2, 1]})
    with pytest.raises(InputError, match="compressed RLE of a 2x3 mask is corrupt"):
        decode_rle({"size": [2, 3], "counts": "3211"})  # 7 pixels in a 6-pixel mask
    with pytest.raises(InputError, match="2x3 mask is corrupt"):
        decode_rle({"size": [2, 3], "counts": "3X"})  # ends mid-number
    with pytest.raises(InputError, match="empty counts"):
        decode_rle({"size": [2, 3], "counts": ""})
    with pytest.raises(InputError, match="not a COCO RLE"):
        decode_rle({"counts": "321"})
