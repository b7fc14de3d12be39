"""Absolute positional embeddings resized to an input's patch grid (features.md: bicubic,
align_corners=False, on the grid only; class / register positions untouched).

open_clip 3.x adds ``visual.positional_embedding`` unchanged in its forward (it only resizes when
loading a checkpoint, with antialiasing), and timm resizes with antialiasing only when a model is
built with ``dynamic_img_size``; so the dense paths resize explicitly with :func:`resize_grid_embedding`.
Antialiasing would only change downsampled grids (crops smaller than the native input).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_grid_embedding(
    grid_embedding: torch.Tensor,
    old_grid: tuple[int, int],
    new_grid: tuple[int, int],
) -> torch.Tensor:
    """(h0·w0, C) row-major grid embeddings → (h·w, C), bicubic with align_corners=False."""
    old_grid, new_grid = tuple(old_grid), tuple(new_grid)
    if old_grid == new_grid:
        return grid_embedding
    channels = grid_embedding.shape[-1]
    image = grid_embedding.reshape(1, *old_grid, channels).permute(0, 3, 1, 2)
    resized = F.interpolate(image.float(), size=new_grid, mode="bicubic", align_corners=False)
    return resized.permute(0, 2, 3, 1).reshape(new_grid[0] * new_grid[1], channels).to(grid_embedding.dtype)


def resize_with_prefix(
    embedding: torch.Tensor, num_prefix: int, old_grid: tuple[int, int], new_grid: tuple[int, int]
) -> torch.Tensor:
    """(P + h0·w0, C) embeddings whose first P rows belong to prefix tokens (CLS, registers)
    → (P + h·w, C): prefix rows unchanged, grid rows resized."""
    grid = resize_grid_embedding(embedding[num_prefix:], old_grid, new_grid)
    return torch.cat([embedding[:num_prefix], grid], dim=0)
