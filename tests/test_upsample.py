import torch
import torch.nn.functional as F

from rns_bench.ops.label_maps import patch_probs_to_label_map, region_probs_to_label_map


def test_patch_probs_follow_mmseg_chain():
    torch.manual_seed(0)
    probs = torch.rand(3, 2, 3)  # K=3 on a 2x3 patch grid, patch 4 → padded 8x12
    resized, original = (7, 10), (14, 20)
    got = patch_probs_to_label_map(probs, 4, resized, original)
    step = F.interpolate(probs[None], size=(8, 12), mode="bilinear", align_corners=False)[..., :7, :10]
    want = F.interpolate(step, size=original, mode="bilinear", align_corners=False)[0].argmax(0)
    assert got.shape == original and torch.equal(got, want)


def test_constant_patch_probabilities_give_constant_map():
    probs = torch.zeros(4, 3, 3)
    probs[2] = 1.0
    assert (patch_probs_to_label_map(probs, 16, (40, 41), (80, 82)) == 2).all()


def test_region_probs_paint_each_region():
    region = torch.tensor([[0, 0, 1], [0, 2, 1]])
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])  # R=3, K=2
    got = region_probs_to_label_map(probs, region, (2, 3))
    assert torch.equal(got, torch.tensor([[0, 0, 1], [0, 0, 1]]))
