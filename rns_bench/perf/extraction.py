"""Extraction throughput (part of ``make perf``): windows/s and images/s of ``extract_dense``.

Measured for the built-in backbones (toy_vlm, clip_tiny, random_vlm; no weights needed) with the clip-like
window settings of protocol §3 on 512×683 images (resized to 448×598): test = crop 448 /
stride 224 (2 windows per image), support = crops 448 and 224 / stride 112 (3 + 15 windows),
on CPU and, when present, CUDA. Random pixels: the cost does not depend on the content.

``print_pipeline_perf`` times the whole path a sweep takes, ``FeatureStore.precompute`` from JPEG
files on disk to the disk cache (decode, resize, pad, backbone, cache write), against the backbone's
own ``extract_dense`` time on the same images: the ratio says how busy the pipeline keeps the model.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from rns_bench.backbones import build_backbone
from rns_bench.core.timing import synchronize
from rns_bench.data.readers.label_reader import decode_image
from rns_bench.features.cache import FeatureCache, FeatureKey
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
PIPELINE_IMAGES = {"toy_vlm": 8, "clip_tiny": 24}  # a few store batches of 8, so reading overlaps the backbone


def random_images(count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` (512, 683, 3) uint8 RGB images of noise."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*IMAGE_HW, 3), dtype=np.uint8) for _ in range(count)]


def time_extraction(
    backbone: torch.nn.Module, settings: ExtractionSettings, images: list[np.ndarray], window_batch: int
) -> tuple[float, float]:
    """(windows/s, images/s) of one ``extract_dense`` call over ``images`` (after a one-image warm-up)."""
    extract_dense(backbone, images[:1], settings, window_batch)  # warm-up: kernels are planned per crop shape
    resized = rescale_size(*images[0].shape[:2], settings.short_side)
    windows = len(images) * FeatureStore(backbone, None, settings).windows_of(resized)
    synchronize()
    started = time.perf_counter()
    extract_dense(backbone, images, settings, window_batch)
    synchronize()
    seconds = time.perf_counter() - started
    return windows / seconds, len(images) / seconds


def print_extraction_perf(
    backbones: tuple[str, ...] = ("toy_vlm", "clip_tiny", "random_vlm"),
    window_batch: int = 16,
    images: dict[str, int] | None = None,
) -> None:
    """Print a table of extraction throughput per device, backbone and setting."""
    counts = {**DEFAULT_IMAGES, **(images or {})}
    print(f"Dense extraction, {IMAGE_HW[0]}×{IMAGE_HW[1]} images, window_batch {window_batch}: windows/s, images/s")
    print(f"{'device':6} {'backbone':10} {'setting':8} {'windows':>20} {'windows/s':>10} {'images/s':>9}")
    for name, device, model in _backbones_on_devices(backbones):
        for split, settings in CLIP_LIKE_SETTINGS.items():
            windows_per_s, images_per_s = time_extraction(model, settings, random_images(counts[name]), window_batch)
            print(f"{device:6} {name:10} {split:8} {settings.label():>20} {windows_per_s:10.2f} {images_per_s:9.3f}")


def time_pipeline(
    backbone: torch.nn.Module,
    name: str,
    settings: ExtractionSettings,
    count: int,
    window_batch: int,
    image_batch: int = 8,
    **store_options: object,
) -> tuple[float, float]:
    """(backbone-only images/s, pipeline images/s) over ``count`` JPEG files, ``image_batch`` per store batch:
    ``extract_dense`` on the decoded images in the store's batches, then ``FeatureStore.precompute`` from
    the files into a fresh disk cache."""
    with tempfile.TemporaryDirectory(prefix="rns-pipeline-perf-") as tmp:
        folder = Path(tmp)
        for index, image in enumerate(random_images(count + 1, seed=1)):
            cv2.imwrite(str(folder / f"{index}.jpg"), image)
        load = lambda image_id: decode_image(folder / f"{image_id}.jpg")  # noqa: E731
        ids = [str(index) for index in range(count + 1)]
        key = FeatureKey.create(name, {}, settings)
        store = FeatureStore(
            backbone,
            FeatureCache(folder / "cache", key),
            settings,
            image_batch=image_batch,
            window_batch=window_batch,
            **store_options,
        )
        store.precompute(ids[:1], load)
        decoded = [load(image_id) for image_id in ids[1:]]
        extract_dense(backbone, decoded[:image_batch], settings, window_batch)  # warm-up at the batch's shapes
        rates = []
        for run in ("backbone", "pipeline"):
            synchronize()
            started = time.perf_counter()
            if run == "backbone":
                for start in range(0, count, image_batch):
                    extract_dense(backbone, decoded[start : start + image_batch], settings, window_batch)
            else:
                store.precompute(ids[1:], load)
            synchronize()
            rates.append(count / (time.perf_counter() - started))
        return rates[0], rates[1]


def print_pipeline_perf(
    backbones: tuple[str, ...] = ("toy_vlm", "clip_tiny"), window_batch: int = 16, images: dict[str, int] | None = None
) -> None:
    """Print images/s of the JPEG → cache pipeline next to the backbone-only rate, per backbone and setting."""
    counts = {**PIPELINE_IMAGES, **(images or {})}
    print(
        f"Extraction pipeline (JPEG files → disk cache, {IMAGE_HW[0]}×{IMAGE_HW[1]}, 8 images per batch): "
        f"images/s, and the pipeline's share of the backbone-only rate"
    )
    print(f"{'device':6} {'backbone':10} {'setting':8} {'images':>6} {'backbone':>9} {'pipeline':>9} {'busy':>6}")
    for name, device, model in _backbones_on_devices(backbones):
        for split, settings in CLIP_LIKE_SETTINGS.items():
            alone, piped = time_pipeline(model, name, settings, counts[name], window_batch)
            print(f"{device:6} {name:10} {split:8} {counts[name]:6d} {alone:9.3f} {piped:9.3f} {piped / alone:6.0%}")


def _backbones_on_devices(backbones: tuple[str, ...]):
    """(name, device, model) for every backbone on CPU and, when present, CUDA."""
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for name in backbones:
        model = build_backbone(name)
        for device in devices:
            yield name, device, model.to(device)
