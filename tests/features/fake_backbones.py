"""Fake backbones for the extraction tests: features that say which window they came from, and a slow one."""

from __future__ import annotations

import time

import numpy as np
import torch

from rns_bench.backbones.base import Backbone

PATCH = 16
ORIGIN_GRID = 16  # origins up to 16 × 16 patches


def origin_image(height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 whose red / green value at a pixel is its patch row / column (so a crop knows its origin)."""
    rows, cols = np.mgrid[0:height, 0:width] // PATCH
    return np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)


def origin_code(patch_row: int, patch_col: int) -> torch.Tensor:
    """(ORIGIN_GRID²,) one-hot code of a window origin, in patches."""
    code = torch.zeros(ORIGIN_GRID * ORIGIN_GRID)
    code[patch_row * ORIGIN_GRID + patch_col] = 1.0
    return code


class OriginBackbone(Backbone):
    """Every patch of a crop gets the one-hot code of the crop's origin patch (read off its top-left pixel,
    see ``origin_image``); records the shape of every forward in ``forwards``."""

    name, patch_size, dim = "origin", PATCH, ORIGIN_GRID * ORIGIN_GRID

    def __init__(self):
        super().__init__()
        self.forwards: list[tuple[int, ...]] = []

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        self.forwards.append(tuple(images.shape))
        batch, _, height, width = images.shape
        rows, cols = (images[:, 0, 0, 0] * 255).round().long(), (images[:, 1, 0, 0] * 255).round().long()
        out = torch.zeros(batch, self.dim, height // PATCH, width // PATCH)
        out[torch.arange(batch), rows * ORIGIN_GRID + cols] = 1.0
        return out

    def encode_text(self, class_names: list[str]) -> torch.Tensor:
        raise NotImplementedError


class SleepyBackbone(Backbone):
    """``inner``'s features, after sleeping ``seconds`` per forward (an extraction slow enough to kill mid-way)."""

    def __init__(self, inner: Backbone, seconds: float):
        super().__init__()
        self.inner, self.seconds = inner, seconds
        self.name, self.patch_size, self.dim = inner.name, inner.patch_size, inner.dim

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        time.sleep(self.seconds)
        return self.inner.encode_image(images)

    def encode_text(self, class_names: list[str]) -> torch.Tensor:
        return self.inner.encode_text(class_names)


def noise_image(image_id: str) -> np.ndarray:
    """A deterministic (H, W, 3) uint8 noise image per id, of a size that depends on the id."""
    seed = sum(image_id.encode())
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (90 + seed % 40, 120 + seed % 50, 3), dtype=np.uint8)
