"""The release's resize (mmcv ``imrescale`` through OpenCV, protocol §3) at the real datasets' sizes.

Label maps must equal ``cv2.resize(INTER_NEAREST)`` pixel for pixel and images must be within one
grey level of ``cv2.resize(INTER_LINEAR)``. Both are also pinned against independent numpy
restatements of OpenCV's sampling rules (nearest: source index ``floor(x · src / dst)``; linear:
half-pixel centres, clamped at the border, no antialiasing), and shown to differ from PIL's.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from rns_bench.ops.resize import rescale_size, resize_image, resize_label

# (H, W, short side) → the resized (H, W) mmcv gives: VOC (upscaled), COCO, ADE-like odd, Cityscapes
# with CLIP (448) and DINOv3.txt (384), the toy's size, and tiny odd maps.
REAL_SIZES = {
    (375, 500, 448): (448, 597),
    (480, 640, 448): (448, 597),
    (427, 640, 448): (448, 671),
    (333, 517, 448): (448, 696),
    (1024, 2048, 448): (448, 896),
    (1024, 2048, 384): (384, 768),
    (512, 683, 448): (448, 598),
    (7, 13, 5): (5, 9),
    (13, 7, 9): (17, 9),
}


@pytest.mark.parametrize("source", list(REAL_SIZES))
def test_rescale_size_is_mmcv_keep_ratio(source):
    assert rescale_size(*source) == REAL_SIZES[source]


def test_long_side_caps_the_scale():
    assert rescale_size(100, 1000, 448) == (205, 2048)  # 2048 / 1000 < 448 / 100
    assert rescale_size(480, 640, None) == (480, 640)


def _nearest_index(src: int, dst: int) -> np.ndarray:
    return np.minimum(np.floor(np.arange(dst) * (src / dst)).astype(int), src - 1)


def _coded_maps(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row- and column-coded uint8 maps: a resized map says exactly which rows / columns it sampled."""
    rows = np.repeat((np.arange(height) % 256).astype(np.uint8)[:, None], width, axis=1)
    cols = np.repeat((np.arange(width) % 256).astype(np.uint8)[None, :], height, axis=0)
    return rows, cols


@pytest.mark.parametrize("source", list(REAL_SIZES))
def test_label_maps_equal_opencv_nearest(source):
    height, width, short = source
    size = rescale_size(height, width, short)
    for coded in _coded_maps(height, width):
        ours = resize_label(coded, size)
        assert np.array_equal(ours, cv2.resize(coded, size[::-1], interpolation=cv2.INTER_NEAREST))
        assert np.array_equal(ours, coded[_nearest_index(height, size[0])][:, _nearest_index(width, size[1])])


@pytest.mark.parametrize("source", [(480, 640, 448), (1024, 2048, 448), (375, 500, 448)])
def test_pil_nearest_samples_other_pixels(source):
    """Why the resize matters: PIL samples pixel centres, so at these sizes it keeps other rows/columns."""
    height, width, short = source
    size = rescale_size(height, width, short)
    _, cols = _coded_maps(height, width)
    pil = np.asarray(Image.fromarray(cols).resize(size[::-1], Image.NEAREST))
    differing = (pil[0] != resize_label(cols, size)[0]).mean()
    assert differing > 0.4  # 480 → 448: about half the columns; 2048 → 896: all of them


def test_one_pixel_objects_survive_exactly_where_opencv_samples():
    label = np.zeros((1024, 2048), np.uint8)
    kept, lost = (0, 0), (1, 1)  # cv2 samples rows/cols 0, 2, 4, 6, 9, ...; PIL samples 1, 3, 5, 8, ...
    label[kept], label[lost] = 7, 9
    resized = resize_label(label, rescale_size(1024, 2048, 448))
    assert set(np.unique(resized)) == {0, 7}
    pil = np.asarray(Image.fromarray(label).resize((896, 448), Image.NEAREST))
    assert set(np.unique(pil)) == {0, 9}


def _opencv_linear_reference(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear with half-pixel centres, border clamp, no antialiasing (OpenCV INTER_LINEAR), in float."""

    def axis_weights(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        position = (np.arange(dst) + 0.5) * (src / dst) - 0.5
        low = np.floor(position).astype(int)
        frac = position - low
        frac[low < 0], low[low < 0] = 0.0, 0
        frac[low >= src - 1], low[low >= src - 1] = 0.0, src - 1
        return low, np.minimum(low + 1, src - 1), frac

    y0, y1, fy = axis_weights(image.shape[0], size[0])
    x0, x1, fx = axis_weights(image.shape[1], size[1])
    pixels = image.astype(np.float64)
    rows = pixels[y0] * (1 - fy)[:, None, None] + pixels[y1] * fy[:, None, None]
    return rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]


@pytest.mark.parametrize("source", [(480, 640, 448), (1024, 2048, 448), (375, 500, 448), (7, 13, 5)])
def test_images_are_opencv_bilinear_without_antialiasing(source):
    height, width, short = source
    image = np.random.default_rng(0).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    size = rescale_size(height, width, short)
    ours = resize_image(image, size)
    assert ours.shape == (*size, 3) and ours.dtype == np.uint8
    assert np.array_equal(ours, cv2.resize(image, size[::-1], interpolation=cv2.INTER_LINEAR))
    assert np.abs(ours.astype(np.float64) - _opencv_linear_reference(image, size)).max() <= 1.0
    if size[0] < height:  # PIL's BILINEAR antialiases when downscaling: far from OpenCV's on noise
        pil = np.asarray(Image.fromarray(image).resize(size[::-1], Image.BILINEAR))
        assert np.abs(pil.astype(int) - ours.astype(int)).max() > 10


def test_same_size_is_returned_untouched():
    image, label = np.zeros((4, 6, 3), np.uint8), np.zeros((4, 6), np.uint8)
    assert resize_image(image, (4, 6)) is image and resize_label(label, (4, 6)) is label
