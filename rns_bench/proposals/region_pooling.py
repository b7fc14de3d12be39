"""Region queries: patch features pooled by a region map (rns spec §6).

Region feature = normalize(Σ_p w_{r,p} X_p), w_{r,p} = (pixels of r in patch p) / (pixels of r).
Same weights as ``rns_bench.ops.pooling.patch_fractions``, but for region maps of any size:
no id is reserved (``patch_fractions`` pads with 255 = ignore, so with more than 255 regions
region 255 would also collect the padding), and the counts come from one ``bincount`` of
(R × patches) instead of an (R, H, W) one-hot, so thousands of superpixels stay cheap.
"""

from __future__ import annotations

import torch

from rns_bench.core.errors import InputError
from rns_bench.ops.pooling import pool_features


def region_patch_fractions(region_map: torch.Tensor, patch_size: int, grid: tuple[int, int]) -> torch.Tensor:
    """(H_r, W_r) region ids 0..R-1 at the resized resolution → (R, h*w) pixel-fraction weights.

    ``grid`` = (h, w), the patch grid of the padded feature map (h*patch_size >= H_r). Pixels
    beyond the region map (the padding) belong to no region. A region smaller than a patch gets
    all its weight on the patches it touches. Rows sum to 1; an unused id is an error.
    """
    if region_map.ndim != 2 or region_map.dtype.is_floating_point:
        raise InputError(f"region map must be a 2-D integer tensor, got {tuple(region_map.shape)} {region_map.dtype}")
    height, width = region_map.shape
    h, w = grid
    if height > h * patch_size or width > w * patch_size:
        raise InputError(
            f"region map of size {(height, width)} does not fit the {h}x{w} feature grid of patch "
            f"size {patch_size}; regions must be proposed on the resized test image the features "
            "were extracted from"
        )
    ids = region_map.long()
    if int(ids.min()) < 0:
        raise InputError("region ids must be >= 0")
    num_regions = int(ids.max()) + 1
    rows = torch.arange(height, device=ids.device) // patch_size
    cols = torch.arange(width, device=ids.device) // patch_size
    patch_index = rows.view(-1, 1) * w + cols.view(1, -1)  # (H_r, W_r) flat patch of each pixel
    counts = torch.bincount((ids * (h * w) + patch_index).flatten(), minlength=num_regions * h * w)
    counts = counts.view(num_regions, h * w).float()
    totals = counts.sum(dim=1, keepdim=True)
    if bool((totals == 0).any()):
        missing = torch.nonzero(totals.squeeze(1) == 0).squeeze(1).tolist()
        raise InputError(
            f"region ids {missing[:10]} have no pixel; region maps must use ids 0..R-1 "
            "(rns_bench.proposals.relabel_contiguous)"
        )
    return counts / totals


def region_queries(features: torch.Tensor, region_map: torch.Tensor, patch_size: int) -> torch.Tensor:
    """features (h, w, D) of the padded resized image, region map (H_r, W_r) → (R, D) unit-norm queries."""
    weights = region_patch_fractions(region_map.to(features.device), patch_size, tuple(features.shape[:2]))
    return pool_features(features, weights)
