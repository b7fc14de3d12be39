import pytest
import torch

from rns_bench.core.errors import InputError
from rns_bench.ops.pooling import paint_instance_map, patch_fractions, pool_features


def test_patch_fractions_by_hand():
    # patch size 2, a 2x4 label map → a 1x2 patch grid.
    # class 1: 3 pixels in patch 0, 1 pixel in patch 1 → weights 3/4, 1/4
    # class 2: 1 pixel in patch 1 → weight 1 on patch 1; 255 pixels count for nobody
    labels = torch.tensor([[1, 1, 2, 255],
                           [1, 255, 1, 255]])
    weights = patch_fractions(labels, torch.tensor([1, 2]), patch_size=2, grid=(1, 2))
    assert torch.allclose(weights, torch.tensor([[0.75, 0.25], [0.0, 1.0]]))


def test_patch_fractions_pads_odd_sizes_with_ignore():
    # 3x3 map, patch 2 → padded 4x4 (grid 2x2); padding belongs to no class
    labels = torch.zeros(3, 3, dtype=torch.long)
    weights = patch_fractions(labels, torch.tensor([0]), patch_size=2, grid=(2, 2))
    assert torch.allclose(weights, torch.tensor([[4, 2, 2, 1]]) / 9)
    assert torch.allclose(weights.sum(1), torch.ones(1))


def test_pool_features_is_normalised_weighted_sum():
    features = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # (h=1, w=2, D=2)
    pooled = pool_features(features, torch.tensor([[0.75, 0.25]]))
    expected = torch.tensor([0.75, 0.25]) / torch.tensor([0.75, 0.25]).norm()
    assert torch.allclose(pooled[0], expected)


def test_label_absent_is_an_error():
    with pytest.raises(InputError, match=r"\[3\]"):
        patch_fractions(torch.zeros(2, 2, dtype=torch.long), torch.tensor([3]), 2, (1, 1))


def test_label_map_larger_than_grid_is_an_error():
    with pytest.raises(InputError, match="feature grid"):
        patch_fractions(torch.zeros(5, 4, dtype=torch.long), torch.tensor([0]), 2, (2, 2))


def test_instance_map_larger_masks_overwrite_smaller_and_uncovered_is_one_region():
    small = torch.zeros(4, 4, dtype=torch.bool)
    small[0, 0:2] = True  # area 2
    large = torch.zeros(4, 4, dtype=torch.bool)
    large[0:2, 0:2] = True  # area 4, overlaps small: painted later, wins
    other = torch.zeros(4, 4, dtype=torch.bool)
    other[3, 3] = True  # area 1
    region = paint_instance_map(torch.stack([large, small, other]))
    # small is fully overwritten and disappears; ids are dense: other, large, uncovered
    assert set(region.unique().tolist()) == {0, 1, 2}
    assert (region[0:2, 0:2] == region[0, 0]).all()
    assert region[3, 3] != region[0, 0]
    uncovered = region[2, 0]
    assert uncovered not in (region[0, 0], region[3, 3])
    assert int((region == uncovered).sum()) == 16 - 4 - 1


def test_instance_map_has_no_overflow_above_255_regions():
    masks = torch.zeros(300, 20, 20, dtype=torch.bool)
    for i in range(300):
        masks[i].view(-1)[i] = True  # 300 one-pixel masks
    region = paint_instance_map(masks)
    assert len(region.unique()) == 301 and region.dtype == torch.long
