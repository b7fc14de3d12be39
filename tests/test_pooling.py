import pytest
import torch

from rns_bench.core.errors import InputError
from rns_bench.ops.pooling import paint_instance_map, patch_fractions, pool_features


def test_patch_fractions_by_hand():
    # patch size 2, a 2x4 label map → a 1x2 patch grid.
    # class 1: 3 pixels in patch 0, 1 pixel in patch 1 → weights 3/4, 1/4
    # class 2: 1 pixel in patch 1 → weight 1 on patch 1; 255 pixels count for nobody
    labels = torch.tensor([[1, 1, 2, 255], [1, 255, 1, 255]])
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


def _reference_paint(masks: torch.Tensor) -> torch.Tensor:
    """The literal loop of rns spec §6: paint by stable ascending area, then torch.unique's inverse."""
    num_masks, height, width = masks.shape
    region = torch.full((height, width), num_masks, dtype=torch.long)
    for index in torch.argsort(masks.flatten(1).sum(1), stable=True).tolist():
        region[masks[index]] = index
    _, dense = torch.unique(region, return_inverse=True)
    return dense


def _random_masks(generator: torch.Generator, num_masks: int, height: int, width: int) -> torch.Tensor:
    """Boxes, noise, empty and full masks and exact duplicates (ties in area)."""
    masks = torch.zeros(num_masks, height, width, dtype=torch.bool)
    for i in range(num_masks):
        kind = int(torch.randint(0, 6, (1,), generator=generator))
        if kind <= 1:  # a box
            top, left = (int(torch.randint(0, n, (1,), generator=generator)) for n in (height, width))
            box_h, box_w = (int(torch.randint(1, n + 1, (1,), generator=generator)) for n in (height, width))
            masks[i, top : top + box_h, left : left + box_w] = True
        elif kind == 2:  # scattered pixels
            masks[i] = torch.rand(height, width, generator=generator) < 0.3
        elif kind == 3:
            pass  # empty
        elif kind == 4:
            masks[i] = True  # full cover
        elif i > 0:  # a copy of an earlier mask: same area, the later index is painted last
            masks[i] = masks[int(torch.randint(0, i, (1,), generator=generator))]
    return masks


def test_instance_map_by_hand():
    masks = torch.zeros(4, 3, 4, dtype=torch.bool)
    masks[0, 0:2, 0:2] = True  # area 4: painted last
    masks[1, 0, 2:4] = True  # area 2
    masks[2, 0:2, 3] = True  # area 2, ties with mask 1 and comes after it in the stable order: wins (0, 3)
    masks[3, 0, 0] = True  # area 1: painted first, fully overwritten by mask 0, so no region
    # region by mask index: [[0, 0, 1, 2], [0, 0, -, 2], [-, -, -, -]] with - uncovered (last id)
    expected = torch.tensor([[0, 0, 1, 2], [0, 0, 3, 2], [3, 3, 3, 3]])
    region = paint_instance_map(masks)
    assert region.dtype == torch.long and torch.equal(region, expected)


@pytest.mark.parametrize("seed", range(40))
def test_instance_map_matches_the_reference_loop(seed):
    generator = torch.Generator().manual_seed(seed)
    num_masks = [0, 1, 2, 3, 7, 20, 60][seed % 7]
    height, width = (int(torch.randint(1, 24, (1,), generator=generator)) for _ in range(2))
    masks = _random_masks(generator, num_masks, height, width)
    region = paint_instance_map(masks)
    assert region.dtype == torch.long and torch.equal(region, _reference_paint(masks))


def test_instance_map_edge_cases_match_the_reference_loop():
    cases = [
        torch.zeros(0, 5, 6, dtype=torch.bool),  # no mask: one region
        torch.zeros(3, 5, 6, dtype=torch.bool),  # only empty masks
        torch.ones(3, 5, 6, dtype=torch.bool),  # identical full covers: the last index wins
        torch.zeros(2, 0, 4, dtype=torch.bool),  # no pixel
        torch.eye(6, dtype=torch.bool).view(6, 2, 3),
    ]  # one pixel each: all tie
    for masks in cases:
        region = paint_instance_map(masks)
        assert region.shape == masks.shape[1:] and torch.equal(region, _reference_paint(masks))


def test_instance_map_matches_the_reference_in_tiles_and_on_strided_input(monkeypatch):
    import rns_bench.ops.pooling as pooling

    generator = torch.Generator().manual_seed(7)
    masks = _random_masks(generator, 300, 64, 80)
    expected = _reference_paint(masks)
    assert torch.equal(paint_instance_map(masks), expected)  # larger case, default tiles
    for budget in (1, 300 * 2 * 7, 300 * 2 * 80 * 3):  # one pixel, 7 pixels of a row, 3 rows (int16 priorities)
        monkeypatch.setattr(pooling, "PAINT_CHUNK_BYTES", budget)
        assert torch.equal(paint_instance_map(masks), expected)
    transposed = masks.transpose(1, 2)  # not contiguous
    assert torch.equal(paint_instance_map(transposed), _reference_paint(transposed.contiguous()))
