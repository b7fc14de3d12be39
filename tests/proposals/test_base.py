import sys

import numpy as np
import pytest
import torch

from rns_bench.core.errors import ConfigError, InputError, UnknownNameError
from rns_bench.proposals import (
    PROPOSERS,
    Proposer,
    build_proposer,
    is_complete_region_map,
    masks_to_region_map,
    relabel_contiguous,
)


def _box(height, width, top, left, bottom, right):
    mask = np.zeros((height, width), dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


def test_larger_mask_overwrites_the_smaller_one_inside_it():
    # rns spec §6 / features.md: painted by ascending area, larger overwrite smaller.
    small = _box(6, 6, 1, 1, 3, 3)  # area 4, inside large
    large = _box(6, 6, 0, 0, 4, 4)  # area 16
    region = masks_to_region_map(np.stack([small, large]), 6, 6)
    assert region.dtype == torch.int32
    assert (region[0:4, 0:4] == region[0, 0]).all()  # the small mask is gone: large painted last
    uncovered = region[5, 5]
    assert uncovered != region[0, 0]
    assert int((region == uncovered).sum()) == 36 - 16
    assert is_complete_region_map(region) and int(region.max()) == 1


def test_painting_order_is_by_area_not_by_list_order():
    # partial overlap: whichever is larger wins the shared pixels, in any input order
    wide = _box(4, 8, 0, 0, 2, 6)  # area 12
    narrow = _box(4, 8, 0, 4, 4, 6)  # area 8, shares [0:2, 4:6] with wide
    for masks in ([wide, narrow], [narrow, wide]):
        region = masks_to_region_map(np.stack(masks), 4, 8)
        assert (region[0:2, 0:6] == region[0, 0]).all()
        assert (region[2:4, 4:6] == region[3, 4]).all() and region[3, 4] != region[0, 0]


def test_uncovered_pixels_are_one_extra_region_and_no_masks_is_one_region():
    a = _box(5, 5, 0, 0, 1, 1)
    b = _box(5, 5, 4, 4, 5, 5)
    region = masks_to_region_map(np.stack([a, b]), 5, 5)
    assert len(region.unique()) == 3 and int((region == region[2, 2]).sum()) == 23
    empty = masks_to_region_map(np.zeros((0, 5, 5), dtype=bool), 5, 5)
    assert empty.shape == (5, 5) and int(empty.max()) == 0 and empty.dtype == torch.int32


def test_more_than_255_regions_do_not_overflow():
    masks = np.zeros((400, 20, 20), dtype=bool)
    masks.reshape(400, -1)[np.arange(400), np.arange(400)] = True  # one pixel each
    region = masks_to_region_map(masks, 20, 20)
    assert is_complete_region_map(region) and int(region.max()) == 399


def test_relabel_contiguous_keeps_order_and_fills_gaps():
    ids = np.array([[7, 7, 300], [-1, 300, 42]])
    assert relabel_contiguous(ids).tolist() == [[1, 1, 3], [0, 3, 2]]  # -1, 7, 42, 300 → 0..3
    with pytest.raises(InputError, match="integers"):
        relabel_contiguous(torch.zeros(2, 2))


def test_is_complete_region_map():
    assert is_complete_region_map(torch.tensor([[0, 1], [2, 1]], dtype=torch.int32))
    assert not is_complete_region_map(torch.tensor([[0, 2]], dtype=torch.int32))  # id 1 unused
    assert not is_complete_region_map(torch.tensor([[0, 1]], dtype=torch.int64))  # wrong dtype


class _Quadrants(Proposer):
    name = "quadrants"

    def _propose(self, image):
        h, w = image.shape[:2]
        ids = np.zeros((h, w), dtype=np.int64)
        ids[h // 2 :, :] += 10
        ids[:, w // 2 :] += 5
        return ids

    def settings(self):
        return {}


def test_propose_validates_input_and_relabels_output():
    region = _Quadrants().propose(np.zeros((4, 6, 3), dtype=np.uint8))
    assert region.tolist() == [[0, 0, 0, 1, 1, 1]] * 2 + [[2, 2, 2, 3, 3, 3]] * 2
    with pytest.raises(InputError, match=r"\(H, W, 3\) uint8"):
        _Quadrants().propose(np.zeros((4, 6, 3), dtype=np.float32))
    with pytest.raises(InputError, match=r"\(H, W, 3\) uint8"):
        _Quadrants().propose(np.zeros((4, 6), dtype=np.uint8))


def test_registry_names_and_option_typos():
    with pytest.raises(UnknownNameError, match="felzenszwalb, sam2, slic"):
        build_proposer("sam")
    assert {"sam2", "felzenszwalb", "slic"} <= set(PROPOSERS.names())
    with pytest.raises(ConfigError, match="no option.*scal.*valid options: scale"):
        build_proposer("felzenszwalb", scal=3.0)


@pytest.mark.parametrize("high", [50, 10**9])  # dense ids (lookup table) and sparse ids (sort)
def test_relabel_contiguous_equals_unique_inverse(high):
    ids = torch.randint(-5, high, (60, 70), generator=torch.Generator().manual_seed(0))
    _, expected = torch.unique(ids, return_inverse=True)
    assert torch.equal(relabel_contiguous(ids).long(), expected)


@pytest.mark.parametrize(
    ("name", "module", "options", "hint"),
    [
        ("felzenszwalb", "skimage", {}, "pip install scikit-image"),
        ("sam2", "sam2", {"random_weights": True}, "pip install --no-build-isolation sam2"),
    ],
)
def test_a_missing_library_is_an_error_with_the_install_command(monkeypatch, name, module, options, hint):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import <module>` fail
    with pytest.raises(InputError, match=hint):
        build_proposer(name, **options)
