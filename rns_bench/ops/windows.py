"""Sliding windows on the mmseg grid and their accumulation on the patch grid (protocol §3).

Pure functions on pixel boxes and tensors. Per axis of length L (the padded image),
``n = max(L - crop + stride - 1, 0) // stride + 1`` windows start at
``min(i * stride, max(L - crop, 0))``: the last one is shifted back to end at the border, and
an image smaller than the crop is one window of the image's size. With L, crop and stride
multiples of the patch size every window lies on the patch grid, so windows are accumulated
patch by patch: per-window features L2-normalised, summed into the image's canvas, divided by
the number of windows covering each patch, normalised again.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rns_bench.core.errors import ConfigError

Window = tuple[int, int, int, int]  # (y0, x0, y1, x1) in pixels, end-exclusive


def axis_starts(length: int, crop: int, stride: int) -> list[int]:
    """Start offsets of the windows along one axis of ``length`` pixels (mmseg ``slide_inference``)."""
    count = max(length - crop + stride - 1, 0) // stride + 1
    return [min(i * stride, max(length - crop, 0)) for i in range(count)]


def window_grid(height: int, width: int, crop: int, stride: int) -> list[Window]:
    """Windows ``(y0, x0, y1, x1)`` covering an (height, width) image, row-major; each side ``min(crop, side)``."""
    return [
        (y0, x0, min(y0 + crop, height), min(x0 + crop, width))
        for y0 in axis_starts(height, crop, stride)
        for x0 in axis_starts(width, crop, stride)
    ]


def check_patch_aligned(crop: int, stride: int, patch_size: int) -> None:
    """Crops and strides must be multiples of the patch size so windows land on the patch grid."""
    if crop % patch_size or stride % patch_size:
        raise ConfigError(
            f"window crop {crop} / stride {stride} must be multiples of the backbone's patch size "
            f"{patch_size}; fix `windows:` in configs/backbone/<name>.yaml"
        )


def patch_box(window: Window, patch_size: int) -> tuple[slice, slice]:
    """The (rows, cols) slices of the patch grid that a patch-aligned pixel window covers."""
    y0, x0, y1, x1 = window
    if any(v % patch_size for v in window):
        raise ValueError(f"window {window} is not on the {patch_size}-pixel patch grid")
    return slice(y0 // patch_size, y1 // patch_size), slice(x0 // patch_size, x1 // patch_size)


class PatchCanvas:
    """Running sum of window features on one image's (h, w) patch grid, and each patch's window count."""

    def __init__(self, grid_hw: tuple[int, int], dim: int, device: torch.device | str = "cpu"):
        self.sum = torch.zeros(*grid_hw, dim, device=device)
        self.count = torch.zeros(*grid_hw, 1, device=device)

    def add(self, window: Window, features: torch.Tensor, patch_size: int) -> None:
        """Add one window's (D, h_win, w_win) features, L2-normalised per patch, at its place."""
        rows, cols = patch_box(window, patch_size)
        self.sum[rows, cols] += F.normalize(features.float(), dim=0).permute(1, 2, 0)
        self.count[rows, cols] += 1

    def result(self) -> torch.Tensor:
        """(h, w, D) unit-norm features: the window mean per patch, normalised."""
        if bool((self.count == 0).any()):
            raise ValueError("some patches are covered by no window: the windows do not tile the image")
        return F.normalize(self.sum / self.count, dim=-1)


def average_maps(maps: list[torch.Tensor]) -> torch.Tensor:
    """Mean of several (h, w, D) unit-norm maps of one image (one per crop size), normalised (§3 support)."""
    if len(maps) == 1:
        return maps[0]
    return F.normalize(torch.stack(maps).mean(dim=0), dim=-1)
