"""Query probabilities → label map at the original resolution (rns spec §7, mmseg conventions).

The chain is the released one: ``F.interpolate`` bilinear (align_corners=False), crop, bilinear, argmax.
On a CPU the same label maps come cheaper (:mod:`rns_bench.ops.label_maps_fast`, bit-identical).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from rns_bench.core.atomic_io import atomic_target, label_png_array
from rns_bench.ops.label_maps_fast import fast_patch_label_map, fast_region_label_map


def _bilinear(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(maps.unsqueeze(0), size=size, mode="bilinear", align_corners=False).squeeze(0)


def _released_patch_label_map(
    probs: torch.Tensor, patch_size: int, resized_hw: tuple[int, int], original_hw: tuple[int, int]
) -> torch.Tensor:
    """The released chain, step by step (the GPU path, and what the CPU path equals)."""
    _, h, w = probs.shape
    padded = _bilinear(probs, (h * patch_size, w * patch_size))
    cropped = padded[:, : resized_hw[0], : resized_hw[1]]
    return _bilinear(cropped, tuple(original_hw)).argmax(dim=0)


def _released_region_label_map(
    probs: torch.Tensor, region_map: torch.Tensor, original_hw: tuple[int, int]
) -> torch.Tensor:
    """The released region chain: paint, bilinear, argmax."""
    painted = probs[region_map].permute(2, 0, 1)  # (K, H_r, W_r)
    return _bilinear(painted, tuple(original_hw)).argmax(dim=0)


def patch_probs_to_label_map(
    probs: torch.Tensor, patch_size: int, resized_hw: tuple[int, int], original_hw: tuple[int, int]
) -> torch.Tensor:
    """probs (K, h, w) on the patch grid of the padded resized image → (H, W) long labels.

    Bilinear ×patch_size to the padded size, crop to the resized image, bilinear to the
    original size, argmax (align_corners=False throughout, as mmseg).
    """
    with torch.no_grad():  # a label map carries no gradient (and out= buffers refuse autograd)
        fast = fast_patch_label_map(probs, patch_size, resized_hw, original_hw)
    return fast if fast is not None else _released_patch_label_map(probs, patch_size, resized_hw, original_hw)


def region_probs_to_label_map(
    probs: torch.Tensor, region_map: torch.Tensor, original_hw: tuple[int, int]
) -> torch.Tensor:
    """probs (R, K) per region, region_map (H_r, W_r) ids 0..R-1 at the resized resolution
    → (H, W) long labels: paint, bilinear to the original size, argmax."""
    with torch.no_grad():
        fast = fast_region_label_map(probs, region_map, original_hw)
    return fast if fast is not None else _released_region_label_map(probs, region_map, original_hw)


def voc_colormap() -> np.ndarray:
    """(256, 3) uint8 PASCAL VOC palette (bit-interleaved class index; 255 → (224, 224, 192))."""
    colours = np.zeros((256, 3), np.uint8)
    for index in range(256):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        colours[index] = (r, g, b)
    return colours


def save_palette_png(path: Path, label: np.ndarray) -> None:
    """Write an (H, W) label map of class ids 0..255 as a VOC-palette PNG (mode "P": the pixel values
    stay the class ids, viewers show colours), atomically."""
    image = Image.fromarray(label_png_array(label, path), mode="L").convert("P")
    image.putpalette(voc_colormap().ravel().tolist())
    with atomic_target(Path(path)) as tmp:
        image.save(tmp, format="PNG")
