"""Dense features of images under one extraction setting (protocol §3).

Resize keep-ratio to scale (2048, S) (S = the setting's short side, or no resize), pad
right/bottom to a multiple of the patch size with 0, then either one whole-image forward or
sliding windows (``rns_bench.ops.windows``) averaged on the patch grid. Crops of all the
images given go through the backbone together, ``window_batch`` at a time, grouped by shape.
Support labels are resized the same way with nearest interpolation (``rns_bench.ops.resize``:
OpenCV, as the release).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from rns_bench.backbones.base import Backbone
from rns_bench.features.settings import ExtractionSettings
from rns_bench.ops.resize import rescale_size, resize_image
from rns_bench.ops.windows import PatchCanvas, average_maps, check_patch_aligned, window_grid

DEFAULT_WINDOW_BATCH = 16


@dataclass
class DenseFeatures:
    """features (h, w, D) unit-norm on the padded patch grid; resized_hw the unpadded size."""

    features: torch.Tensor
    resized_hw: tuple[int, int]


def padded_pixels(image: np.ndarray, short_side: int | None, patch_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """(H, W, 3) uint8 RGB → ((3, H_p, W_p) float [0, 1] resized and zero-padded to the patch multiple, (H_r, W_r))."""
    size = rescale_size(*image.shape[:2], short_side)
    pixels = torch.from_numpy(np.require(resize_image(image, size), requirements=["C", "W"]))
    pixels = pixels.permute(2, 0, 1).float().div(255.0)
    return F.pad(pixels, (0, -size[1] % patch_size, 0, -size[0] % patch_size)), size


def as_settings(settings: ExtractionSettings | int | None) -> ExtractionSettings:
    """An ``ExtractionSettings``; a bare short side (int or None) means one whole-image forward at it."""
    return settings if isinstance(settings, ExtractionSettings) else ExtractionSettings(short_side=settings)


@torch.no_grad()
def extract_dense(
    backbone: Backbone,
    images: Sequence[np.ndarray],
    settings: ExtractionSettings | int | None,
    window_batch: int = DEFAULT_WINDOW_BATCH,
) -> list[DenseFeatures]:
    """(H, W, 3) uint8 RGB images → their dense features under ``settings``, in input order.

    Whole-image mode returns the backbone's own (unit-norm) features untouched; sliding mode
    accumulates unit-normalised windows per patch (``PatchCanvas``) and averages crop sizes.
    """
    settings = as_settings(settings)
    return extract_prepared(
        backbone,
        [padded_pixels(image, settings.short_side, backbone.patch_size) for image in images],
        settings,
        window_batch,
    )


@torch.no_grad()
def extract_prepared(
    backbone: Backbone,
    prepared: Sequence[tuple[torch.Tensor, tuple[int, int]]],
    settings: ExtractionSettings | int | None,
    window_batch: int = DEFAULT_WINDOW_BATCH,
) -> list[DenseFeatures]:
    """``extract_dense`` on images already resized and padded (``padded_pixels``: (pixels, resized size)).

    Each image goes to the backbone's device once (asynchronously from pinned memory); its crops
    are views of it there.
    """
    settings, patch = as_settings(settings), backbone.patch_size
    if window_batch < 1:
        raise ValueError(f"window_batch must be >= 1, got {window_batch}")
    device = device_of(backbone)
    prepared = [(pixels.to(device, non_blocking=True), size) for pixels, size in prepared]
    if settings.windows is None:
        crops = {index: pixels for index, (pixels, _) in enumerate(prepared)}
        maps = {index: out.permute(1, 2, 0) for index, out in _forward_batches(backbone, crops, window_batch)}
        return [DenseFeatures(maps[i].float().cpu().contiguous(), size) for i, (_, size) in enumerate(prepared)]

    for spec in settings.windows:
        check_patch_aligned(spec.crop, spec.stride, patch)
    canvases: dict[tuple[int, int], PatchCanvas] = {}
    crops: dict[tuple[int, int, tuple[int, int, int, int]], torch.Tensor] = {}
    for index, (pixels, _) in enumerate(prepared):
        height, width = pixels.shape[1:]
        for grid, spec in enumerate(settings.windows):
            canvases[index, grid] = PatchCanvas((height // patch, width // patch), backbone.dim, device)
            for window in window_grid(height, width, spec.crop, spec.stride):
                y0, x0, y1, x1 = window
                crops[index, grid, window] = pixels[:, y0:y1, x0:x1]
    for (index, grid, window), out in _forward_batches(backbone, crops, window_batch):
        canvases[index, grid].add(window, out, patch)
    grids = range(len(settings.windows))
    return [
        DenseFeatures(average_maps([canvases[i, g].result() for g in grids]).cpu().contiguous(), size)
        for i, (_, size) in enumerate(prepared)
    ]


def _forward_batches(
    backbone: Backbone, crops: dict[Hashable, torch.Tensor], window_batch: int
) -> Iterator[tuple[Hashable, torch.Tensor]]:
    """Yield (key, (D, h, w) features) for every (3, H, W) crop: same-shape crops share forwards of up to
    ``window_batch``, in the crops' order within a shape (so accumulation order never depends on batching)."""
    by_shape: dict[tuple[int, ...], list[Hashable]] = {}
    for key, crop in crops.items():
        by_shape.setdefault(tuple(crop.shape), []).append(key)
    device = device_of(backbone)
    for keys in by_shape.values():
        for start in range(0, len(keys), window_batch):
            chunk = keys[start : start + window_batch]
            out = backbone.encode_image(torch.stack([crops[k] for k in chunk]).to(device))
            yield from zip(chunk, out, strict=True)


def device_of(backbone: torch.nn.Module) -> torch.device:
    """Where the backbone's weights (or buffers) live; CPU for a backbone with neither."""
    tensor = next(itertools.chain(backbone.parameters(), backbone.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")
