"""Soft pooling of patch features by a label or region map (rns spec §1 and §6).

The same pooling builds support-bank rows (labels = classes) and region queries
(labels = region ids): weight of patch p for label l = (pixels of l in p) / (pixels of l).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rns_bench.core.errors import InputError
from rns_bench.core.labels import IGNORE_INDEX


def pad_to_patch_multiple(label_map: torch.Tensor, patch_size: int, fill: int = IGNORE_INDEX) -> torch.Tensor:
    """(H, W) → (H', W') padded right/bottom with ``fill`` to multiples of ``patch_size``."""
    height, width = label_map.shape
    pad_h, pad_w = -height % patch_size, -width % patch_size
    return F.pad(label_map, (0, pad_w, 0, pad_h), value=fill)


def patch_fractions(
    label_map: torch.Tensor, labels: torch.Tensor, patch_size: int, grid: tuple[int, int]
) -> torch.Tensor:
    """Pixel-fraction weights of each label over the patch grid.

    label_map: (H, W) integer map; pixels equal to 255 (ignore) belong to no label.
    labels: (L,) label values to pool.  grid: (h, w) patch grid of the feature map.
    Returns (L, h*w) weights; each row sums to 1 (a label with no pixel is an error).
    """
    padded = pad_to_patch_multiple(label_map.long(), patch_size)
    h, w = grid
    if padded.shape[0] > h * patch_size or padded.shape[1] > w * patch_size:
        raise InputError(
            f"label map of size {tuple(label_map.shape)} does not fit the {h}x{w} feature grid "
            f"of patch size {patch_size}; labels must be at the resolution the features were extracted at"
        )
    padded = F.pad(
        padded, (0, w * patch_size - padded.shape[1], 0, h * patch_size - padded.shape[0]), value=IGNORE_INDEX
    )
    one_hot = (padded.unsqueeze(0) == labels.view(-1, 1, 1)).float()  # (L, H', W')
    counts = F.avg_pool2d(one_hot.unsqueeze(1), patch_size, divisor_override=1).flatten(1)  # (L, h*w)
    totals = counts.sum(dim=1, keepdim=True)
    if bool((totals == 0).any()):
        missing = labels[(totals.squeeze(1) == 0)].tolist()
        raise InputError(f"labels {missing} have no pixel in the label map; cannot pool them")
    return counts / totals


def pool_features(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """features (h, w, D), weights (L, h*w) → (L, D) unit-norm pooled features."""
    return F.normalize(weights @ features.reshape(-1, features.shape[-1]), dim=-1)


def present_labels(label_map: torch.Tensor) -> torch.Tensor:
    """Sorted label values present in ``label_map``, ignore (255) excluded."""
    values = torch.unique(label_map.long())
    return values[values != IGNORE_INDEX]


# Bytes of mask priorities held at once by paint_instance_map: bounds memory whatever M × H × W
# (2 MB keeps each tile in cache between the multiply and the max).
PAINT_CHUNK_BYTES = 1 << 21


def paint_instance_map(masks: torch.Tensor) -> torch.Tensor:
    """(M, H, W) bool masks → (H, W) long region map (rns spec §6).

    Masks are painted by ascending area (stable order), so larger masks overwrite smaller ones;
    pixels covered by no mask form one extra region. Region ids are then renumbered densely
    0..R-1 in the order of (mask index, uncovered last), as ``torch.unique(return_inverse=True)``
    would (int64, so no overflow at 255 regions as in the released code).

    Vectorised: a pixel goes to the covering mask painted last, i.e. the max over masks of its
    paint priority (position in the stable ascending-area order + 1) where covered, 0 where not.
    The max is taken a tile of pixels at a time, so memory stays near ``PAINT_CHUNK_BYTES``.
    """
    num_masks, height, width = masks.shape
    masks = masks.bool()
    if num_masks == 0:
        return torch.zeros((height, width), dtype=torch.long, device=masks.device)
    areas = _mask_areas(masks)
    paint_order = torch.argsort(areas, stable=True)
    priority_dtype = torch.int16 if num_masks < 2**15 else torch.int32
    priority = torch.empty(num_masks, dtype=priority_dtype, device=masks.device)
    priority[paint_order] = torch.arange(1, num_masks + 1, device=masks.device).to(priority_dtype)
    # priority 0 (no cover) → the extra id num_masks; priority p → the mask painted p-th
    mask_of_priority = torch.cat([paint_order.new_tensor([num_masks]), paint_order])
    region = torch.empty((height, width), dtype=torch.long, device=masks.device)
    # tiles of whole rows, or of part of one row when M is so large that one row exceeds the budget
    per_pixel = num_masks * priority.element_size()
    rows = max(1, PAINT_CHUNK_BYTES // (per_pixel * max(1, width)))
    cols = width if rows > 1 else max(1, PAINT_CHUNK_BYTES // per_pixel)
    for top in range(0, height, rows):
        for left in range(0, width, cols):
            tile = masks[:, top : top + rows, left : left + cols].view(torch.uint8)
            # (M, rows, cols) priority where covered, else 0; uint8 (a view of bool) × int: torch's fast CPU path
            winner = torch.mul(tile, priority.view(-1, 1, 1)).amax(dim=0)
            region[top : top + rows, left : left + cols] = mask_of_priority[winner.long()]
    return _dense_ids(region, num_masks + 1)


def _mask_areas(masks: torch.Tensor) -> torch.Tensor:
    """(M, H, W) bool → (M,) int64 pixel counts. On CPU one numpy count per mask: torch's batched bool
    sum is ~50x slower there and its per-mask ``count_nonzero`` ~6x."""
    if masks.device.type != "cpu":
        return masks.flatten(1).sum(1)
    return torch.tensor([np.count_nonzero(mask) for mask in masks.numpy()], dtype=torch.long)


def _dense_ids(ids: torch.Tensor, bound: int) -> torch.Tensor:
    """Values in 0..bound-1 → their rank among the values present (= torch.unique's inverse, in O(N))."""
    present = torch.zeros(bound, dtype=torch.bool, device=ids.device)
    present[ids.flatten()] = True
    return (torch.cumsum(present, dim=0) - 1)[ids]


# Region queries (rns spec §6): feature of region r = normalize(Σ_p w_{r,p} X_p), w_{r,p} = (pixels of r
# in patch p) / (pixels of r). The weights of ``patch_fractions``, but for region maps of any size:
# no id is reserved (``patch_fractions`` pads with 255 = ignore, so with more than 255 regions
# region 255 would also collect the padding), and the counts come from one ``bincount`` of
# (R × patches) instead of an (R, H, W) one-hot, so thousands of superpixels stay cheap.


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
