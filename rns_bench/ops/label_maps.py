"""Query probabilities → label map at the original resolution (rns spec §7, mmseg conventions)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _bilinear(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(maps.unsqueeze(0), size=size, mode="bilinear", align_corners=False).squeeze(0)


def patch_probs_to_label_map(
    probs: torch.Tensor, patch_size: int, resized_hw: tuple[int, int], original_hw: tuple[int, int]
) -> torch.Tensor:
    """probs (K, h, w) on the patch grid of the padded resized image → (H, W) long labels.

    Bilinear ×patch_size to the padded size, crop to the resized image, bilinear to the
    original size, argmax (align_corners=False throughout, as mmseg).
    """
    _, h, w = probs.shape
    padded = _bilinear(probs, (h * patch_size, w * patch_size))
    cropped = padded[:, : resized_hw[0], : resized_hw[1]]
    return _bilinear(cropped, tuple(original_hw)).argmax(dim=0)


def region_probs_to_label_map(
    probs: torch.Tensor, region_map: torch.Tensor, original_hw: tuple[int, int]
) -> torch.Tensor:
    """probs (R, K) per region, region_map (H_r, W_r) ids 0..R-1 at the resized resolution
    → (H, W) long labels: paint, bilinear to the original size, argmax."""
    painted = probs[region_map].permute(2, 0, 1)  # (K, H_r, W_r)
    return _bilinear(painted, tuple(original_hw)).argmax(dim=0)
