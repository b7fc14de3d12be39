"""Soft pooling of patch features by a label or region map (rns spec §1 and §6).

The same pooling builds support-bank rows (labels = classes) and region queries
(labels = region ids): weight of patch p for label l = (pixels of l in p) / (pixels of l).
"""

from __future__ import annotations

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
    padded = F.pad(padded, (0, w * patch_size - padded.shape[1], 0, h * patch_size - padded.shape[0]),
                   value=IGNORE_INDEX)
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


def paint_instance_map(masks: torch.Tensor) -> torch.Tensor:
    """(M, H, W) bool masks → (H, W) long region map (rns spec §6).

    Masks are painted by ascending area, so larger masks overwrite smaller ones; pixels
    covered by no mask form one extra region. Region ids are then renumbered densely
    0..R-1 (int64, so no overflow at 255 regions as in the released code).
    """
    num_masks, height, width = masks.shape
    region = torch.full((height, width), num_masks, dtype=torch.long)
    for index in torch.argsort(masks.flatten(1).sum(1), stable=True).tolist():
        region[masks[index]] = index
    _, dense = torch.unique(region, return_inverse=True)
    return dense
