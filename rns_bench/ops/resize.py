"""The one keep-ratio resize of images and label maps, exactly as the release (protocol §3).

The release resizes with mmcv's ``imrescale``: the scale factor is
``min(long_side / max(H, W), short_side / min(H, W))``, the new size ``int(side · factor + 0.5)``,
and the pixels go through ``cv2.resize`` — ``INTER_LINEAR`` for images (no antialiasing when
downscaling) and ``INTER_NEAREST`` for label maps (source index ``floor(x · src / dst)``). PIL's
resamplers differ from both (PIL NEAREST samples pixel centres, half a pixel apart; PIL BILINEAR
antialiases), which changes class presence, hence the drawn support split, and the features on
every downscaled dataset. Every path — test and support features, the presence index, support-bank
labels, the offline baselines' pixel labels and finetuning inputs, the region proposers' input —
resizes through this module.
"""

from __future__ import annotations

import cv2
import numpy as np

LONG_SIDE = 2048
# Names how pixels reach the features: images decoded by OpenCV (rns_bench.data.readers.label_reader) and
# resized here. Feature and region cache keys, the presence index, tuned parameters and run records
# carry it, so nothing computed through another pixel path is ever reused. Bump it when either changes.
PIXEL_PIPELINE = "cv2-decode+cv2-imrescale-v1"


def rescale_size(height: int, width: int, short_side: int | None, long_side: int = LONG_SIDE) -> tuple[int, int]:
    """mmcv ``rescale_size`` for scale (long_side, short_side), keep ratio; ``short_side=None`` keeps the size."""
    if short_side is None:
        return height, width
    factor = min(long_side / max(height, width), short_side / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 → (h, w, 3) uint8 by ``cv2.resize(INTER_LINEAR)`` (mmcv ``imresize`` for images)."""
    if tuple(size) == image.shape[:2]:
        return image
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def resize_label(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 class map → (h, w) by ``cv2.resize(INTER_NEAREST)`` (mmcv's segmentation-map resize)."""
    if tuple(size) == label.shape:
        return label
    return cv2.resize(label, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
