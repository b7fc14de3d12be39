"""Dense extraction: whole image vs windows, batching of windows across images, resize and padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from features.fake_backbones import OriginBackbone, noise_image, origin_image

from rns_bench.backbones import build_backbone
from rns_bench.features.dense import extract_dense
from rns_bench.features.settings import ExtractionSettings, WindowSpec

CLIP_TEST = ExtractionSettings(448, (WindowSpec(448, 224),))
CLIP_SUPPORT = ExtractionSettings(448, (WindowSpec(448, 112), WindowSpec(224, 112)))


@pytest.fixture(scope="module")
def random_vlm():
    return build_backbone("random_vlm")


def test_one_window_covering_the_image_equals_the_whole_image_forward(random_vlm) -> None:
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, size, dtype=np.uint8) for size in [(150, 160, 3), (100, 140, 3)]]
    whole = extract_dense(random_vlm, images, ExtractionSettings(None))  # padded to 160 × 160 and 112 × 144
    for crop in (160, 448):  # the crop equals the first padded image / exceeds both
        windowed = extract_dense(random_vlm, images, ExtractionSettings(None, (WindowSpec(crop, 32),)))
        for w, s in zip(whole, windowed, strict=True):
            assert s.resized_hw == w.resized_hw and s.features.shape == w.features.shape
            torch.testing.assert_close(s.features, w.features, rtol=0, atol=1e-6)


def test_whole_image_mode_is_the_backbones_own_output(random_vlm) -> None:
    image = noise_image("c")
    dense = extract_dense(random_vlm, [image], None)[0]  # a bare short side: whole image (the old signature)
    pixels = torch.from_numpy(image).permute(2, 0, 1).float().div(255)
    padded = torch.nn.functional.pad(pixels, (0, -image.shape[1] % 16, 0, -image.shape[0] % 16))
    assert torch.equal(dense.features, random_vlm.encode_image(padded[None])[0].permute(1, 2, 0))


def test_clip_like_settings_resize_pad_and_normalise(random_vlm) -> None:
    image = np.random.default_rng(0).integers(0, 256, (512, 683, 3), dtype=np.uint8)
    for settings in (CLIP_TEST, CLIP_SUPPORT):
        dense = extract_dense(random_vlm, [image], settings)[0]
        assert dense.resized_hw == (448, 598) and dense.features.shape == (28, 38, 32)  # 598 → 608 = 38 patches
        torch.testing.assert_close(dense.features.norm(dim=-1), torch.ones(28, 38))


def test_windows_of_several_images_are_batched_by_shape() -> None:
    backbone = OriginBackbone()
    images = [origin_image(64, 176), origin_image(64, 176), origin_image(48, 48)]
    extract_dense(backbone, images, ExtractionSettings(None, (WindowSpec(64, 32),)), window_batch=4)
    # 2 × 5 windows of 64 × 64 in batches of 4, then the small image's one 48 × 48 window
    assert backbone.forwards == [(4, 3, 64, 64), (4, 3, 64, 64), (2, 3, 64, 64), (1, 3, 48, 48)]


@pytest.mark.parametrize(
    "settings", [CLIP_TEST, CLIP_SUPPORT, ExtractionSettings(None)], ids=["test", "support", "whole"]
)
def test_batching_across_images_equals_one_at_a_time(random_vlm, settings) -> None:
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, size, dtype=np.uint8) for size in [(512, 683, 3), (480, 640, 3), (512, 683, 3)]]
    together = extract_dense(random_vlm, images, settings, window_batch=16)
    alone = [extract_dense(random_vlm, [image], settings, window_batch=1)[0] for image in images]
    for a, b in zip(together, alone, strict=True):
        assert a.resized_hw == b.resized_hw
        torch.testing.assert_close(a.features, b.features, rtol=1e-5, atol=1e-6)


def test_batching_is_exact_with_a_batch_independent_backbone() -> None:
    images = [origin_image(96, 176), origin_image(64, 96), origin_image(96, 176)]
    settings = ExtractionSettings(None, (WindowSpec(64, 32), WindowSpec(32, 16)))
    together = extract_dense(OriginBackbone(), images, settings, window_batch=5)
    alone = [extract_dense(OriginBackbone(), [image], settings, window_batch=1)[0] for image in images]
    assert all(torch.equal(a.features, b.features) for a, b in zip(together, alone, strict=True))
