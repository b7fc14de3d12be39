"""Extraction throughput (part of ``make perf``): windows/s and images/s of ``extract_dense``.

Measured for the built-in backbones (toy_vlm, clip_tiny, random_vlm; no weights needed) with the clip-like
window settings of protocol §3 on 512×683 images (resized to 448×598): test = crop 448 /
stride 224 (2 windows per image), support = crops 448 and 224 / stride 112 (3 + 15 windows),
on CPU and, when present, CUDA. Random pixels: the cost does not depend on the content.
"""

from __future__ import annotations

import time

import numpy as np
import torch

import rns_bench.toy  # noqa: F401  (registers the toy_vlm backbone)
from rns_bench.backbones import build_backbone
from rns_bench.features.dense import extract_dense
from rns_bench.features.settings import ExtractionSettings, WindowSpec
from rns_bench.features.store import FeatureStore
from rns_bench.ops.resize import rescale_size

IMAGE_HW = (512, 683)
CLIP_LIKE_SETTINGS = {
    "test": ExtractionSettings(448, (WindowSpec(448, 224),)),
    "support": ExtractionSettings(448, (WindowSpec(448, 112), WindowSpec(224, 112))),
}
# Images per measurement: toy_vlm's hand-made features cost ≈ 0.2-0.5 s per 448² window on 2 CPU cores.
DEFAULT_IMAGES = {"toy_vlm": 1, "random_vlm": 4, "clip_tiny": 2}


def random_images(count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` (512, 683, 3) uint8 RGB images of noise."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*IMAGE_HW, 3), dtype=np.uint8) for _ in range(count)]


def time_extraction(backbone: torch.nn.Module, settings: ExtractionSettings, images: list[np.ndarray],
                    window_batch: int) -> tuple[float, float]:
    """(windows/s, images/s) of one ``extract_dense`` call over ``images`` (after a one-image warm-up)."""
    extract_dense(backbone, images[:1], settings, window_batch)  # warm-up: kernels are planned per crop shape
    resized = rescale_size(*images[0].shape[:2], settings.short_side)
    windows = len(images) * FeatureStore(backbone, None, settings).windows_of(resized)
    _synchronise()
    started = time.perf_counter()
    extract_dense(backbone, images, settings, window_batch)
    _synchronise()
    seconds = time.perf_counter() - started
    return windows / seconds, len(images) / seconds


def print_extraction_perf(backbones: tuple[str, ...] = ("toy_vlm", "clip_tiny", "random_vlm"), window_batch: int = 16,
                          images: dict[str, int] | None = None) -> None:
    """Print a table of extraction throughput per device, backbone and setting."""
    counts = {**DEFAULT_IMAGES, **(images or {})}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"Dense extraction, {IMAGE_HW[0]}×{IMAGE_HW[1]} images, window_batch {window_batch}: windows/s, images/s")
    print(f"{'device':6} {'backbone':10} {'setting':8} {'windows':>20} {'windows/s':>10} {'images/s':>9}")
    for name in backbones:
        model = build_backbone(name)
        for device in devices:
            model = model.to(device)
            for split, settings in CLIP_LIKE_SETTINGS.items():
                windows_per_s, images_per_s = time_extraction(model, settings, random_images(counts[name]),
                                                               window_batch)
                print(f"{device:6} {name:10} {split:8} {settings.label():>20} {windows_per_s:10.2f} "
                      f"{images_per_s:9.3f}")


def _synchronise() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
