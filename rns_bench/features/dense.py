"""Dense features of one image at the protocol's test resolution (protocol §3).

Resize keep-ratio to scale (2048, S) (S = the backbone's short side, or no resize), pad
right/bottom to a multiple of the patch size with 0, run the backbone. Support labels are
resized the same way with nearest interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from rns_bench.backbones.base import Backbone

LONG_SIDE = 2048


def rescale_size(height: int, width: int, short_side: int | None, long_side: int = LONG_SIDE) -> tuple[int, int]:
    """mmseg ``Resize(scale=(long_side, short_side), keep_ratio=True)`` output size."""
    if short_side is None:
        return height, width
    factor = min(long_side / max(height, width), short_side / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


@dataclass
class DenseFeatures:
    """features (h, w, D) unit-norm on the padded patch grid; resized_hw the unpadded size."""

    features: torch.Tensor
    resized_hw: tuple[int, int]


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if size == image.shape[:2]:
        return image
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.BILINEAR))


def resize_label(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if size == label.shape:
        return label
    return np.asarray(Image.fromarray(label).resize((size[1], size[0]), Image.NEAREST))


@torch.no_grad()
def extract_dense(backbone: Backbone, images: list[np.ndarray], short_side: int | None) -> list[DenseFeatures]:
    """(H, W, 3) uint8 RGB images → their dense features; same-size images share a forward."""
    outputs: list[DenseFeatures | None] = [None] * len(images)
    device = next(backbone.parameters(), torch.empty(0)).device
    groups: dict[tuple[int, int], list[int]] = {}
    resized = []
    for index, image in enumerate(images):
        size = rescale_size(*image.shape[:2], short_side)
        resized.append(resize_image(image, size))
        groups.setdefault(size, []).append(index)
    ps = backbone.patch_size
    for size, members in groups.items():
        batch = torch.stack([torch.from_numpy(resized[i]).permute(2, 0, 1) for i in members])
        batch = F.pad(batch.float().div(255.0), (0, -size[1] % ps, 0, -size[0] % ps))
        dense = backbone.encode_image(batch.to(device)).permute(0, 2, 3, 1).float().cpu()
        for i, features in zip(members, dense, strict=True):
            outputs[i] = DenseFeatures(features.contiguous(), size)
    return outputs
