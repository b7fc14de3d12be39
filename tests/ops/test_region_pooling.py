import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rns_bench.core.errors import InputError
from rns_bench.methods.base import SegMethod
from rns_bench.ops.label_maps import region_probs_to_label_map
from rns_bench.ops.pooling import patch_fractions, region_patch_fractions, region_queries
from rns_bench.proposals import masks_to_region_map, relabel_contiguous


def _map_with_every_id(num_regions, shape, seed):
    """(H, W) int32 map using every id 0..num_regions-1 (the first pixels take each id once)."""
    region_map = torch.randint(0, num_regions, shape, generator=torch.Generator().manual_seed(seed), dtype=torch.int32)
    region_map.view(-1)[:num_regions] = torch.arange(num_regions, dtype=torch.int32)
    return region_map


def _fractions_by_loops(region_map, patch_size, grid):
    """Independent oracle: count every pixel of every region in its patch."""
    h, w = grid
    num_regions = int(region_map.max()) + 1
    counts = np.zeros((num_regions, h * w))
    for (y, x), r in np.ndenumerate(region_map.numpy()):
        counts[r, (y // patch_size) * w + x // patch_size] += 1
    return torch.from_numpy(counts / counts.sum(1, keepdims=True)).float()


def test_matches_patch_fractions_below_255_regions():
    region_map = relabel_contiguous(torch.randint(0, 40, (45, 61), generator=torch.Generator().manual_seed(0)))
    grid = (3, 4)  # 45x61 padded to 48x64 with patch 16
    labels = torch.arange(int(region_map.max()) + 1)
    assert torch.allclose(region_patch_fractions(region_map, 16, grid), patch_fractions(region_map, labels, 16, grid))


def test_any_region_count_and_padding_belongs_to_no_region():
    # 300 regions on a map that needs padding: region 255 must not collect the padding
    # (patch_fractions pads with 255 = ignore; the released code breaks above 255, spec §6)
    region_map = _map_with_every_id(300, (30, 45), seed=1)
    weights = region_patch_fractions(region_map, 8, (4, 6))  # 30x45 → padded 32x48
    assert torch.allclose(weights, _fractions_by_loops(region_map, 8, (4, 6)))
    assert torch.allclose(weights.sum(1), torch.ones(300))


def test_a_region_smaller_than_a_patch_still_gets_a_feature():
    region_map = torch.zeros(32, 32, dtype=torch.int32)
    region_map[17, 3] = 1  # one pixel in patch (1, 0)
    features = F.normalize(torch.randn(2, 2, 8), dim=-1)
    queries = region_queries(features, region_map, 16)
    assert queries.shape == (2, 8)
    assert torch.allclose(queries[1], features[1, 0], atol=1e-6)


def test_errors_name_the_problem():
    with pytest.raises(InputError, match="feature grid"):
        region_patch_fractions(torch.zeros(40, 40, dtype=torch.int32), 16, (2, 2))
    with pytest.raises(InputError, match=r"ids \[1\] have no pixel"):
        region_patch_fractions(torch.tensor([[0, 2]], dtype=torch.int32), 2, (1, 1))


def _painted_map(height, width, seed=0):
    rng = np.random.default_rng(seed)
    masks = np.zeros((12, height, width), dtype=bool)
    for mask in masks:
        top, left = rng.integers(0, height - 4), rng.integers(0, width - 4)
        mask[top : top + rng.integers(2, 30), left : left + rng.integers(2, 40)] = True
    return masks_to_region_map(masks, height, width)


def test_region_mode_end_to_end_unit_norm_queries_and_constant_labels_per_region():
    height, width, patch = 50, 70, 16  # resized test image; features on the padded 4x5 grid
    region_map = _painted_map(height, width)
    features = F.normalize(torch.randn(4, 5, 16, generator=torch.Generator().manual_seed(0)), dim=-1)
    queries = region_queries(features, region_map, patch)
    num_regions = int(region_map.max()) + 1
    assert queries.shape == (num_regions, 16)
    assert torch.allclose(queries.norm(dim=-1), torch.ones(num_regions), atol=1e-5)
    probs = torch.softmax(queries @ F.normalize(torch.randn(16, 5), dim=0) * 10, dim=-1)  # (R, K)
    labels = region_probs_to_label_map(probs, region_map, (height, width))  # int32 ids index fine
    for region in range(num_regions):
        assert len(labels[region_map == region].unique()) == 1
    assert torch.equal(labels[region_map == 0].unique(), probs[0].argmax().view(1))


def test_superpixel_maps_pool_like_the_oracle():
    pytest.importorskip("skimage", reason="felzenszwalb needs scikit-image")
    from rns_bench.proposals import build_proposer

    image = np.random.default_rng(3).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    region_map = build_proposer("felzenszwalb", scale=5.0, sigma=0.3, min_size=2).propose(image)
    assert int(region_map.max()) + 1 > 255  # many tiny superpixels: past the released code's limit
    assert torch.allclose(region_patch_fractions(region_map, 8, (5, 7)), _fractions_by_loops(region_map, 8, (5, 7)))


class _Probe(SegMethod):
    name = "probe"

    def predict_probs(self, queries, image_ids):
        return [torch.full((q.shape[0], self.num_classes), 1.0 / self.num_classes) for q in queries]


def test_method_region_queries_match_region_pooling_above_255_regions():
    region_map = _map_with_every_id(300, (30, 45), seed=2)  # 30x45 on a padded 2x3 grid of 16 px
    features = F.normalize(torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    method = _Probe(["a", "b"], patch_size=16, query_mode="region")
    from_method = method.queries_of({"image_id": "x", "features": features, "regions": region_map})
    expected = region_queries(features, region_map, 16)
    others = torch.arange(300) != 255
    assert torch.allclose(from_method[others], expected[others], atol=1e-6)  # holds today
    assert torch.allclose(from_method[255], expected[255], atol=1e-6)  # region 255 took the padding
