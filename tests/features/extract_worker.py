"""A feature-extraction process for the cache's concurrency and kill-and-resume tests.

As a script: ``python extract_worker.py CACHE_DIR HANG_ID MARKER`` extracts ``IMAGE_IDS`` with a slow
backbone and, while writing the entry of HANG_ID, leaves a half-written temp file, writes MARKER and
hangs (so the test can SIGKILL it in the middle of a write). ``write_and_rewrite`` is the
multiprocessing target of the concurrent-writers test.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for features.fake_backbones

from features.fake_backbones import SleepyBackbone, noise_image  # noqa: E402

from rns_bench.backbones import build_backbone  # noqa: E402
from rns_bench.features import cache as cache_module  # noqa: E402
from rns_bench.features.cache import FeatureCache, FeatureKey  # noqa: E402
from rns_bench.features.settings import ExtractionSettings, WindowSpec  # noqa: E402
from rns_bench.features.store import FeatureStore  # noqa: E402

IMAGE_IDS = [f"img_{i:02d}" for i in range(8)]
SETTINGS = ExtractionSettings(None, (WindowSpec(64, 32),))


def make_store(cache_dir: Path, sleep_s: float = 0.0) -> FeatureStore:
    """random_vlm under SETTINGS, caching under ``cache_dir``, one image per batch."""
    key = FeatureKey.create("random_vlm", {"seed": 0, "dim": 32}, SETTINGS)
    backbone = build_backbone("random_vlm")
    if sleep_s:
        backbone = SleepyBackbone(backbone, sleep_s)
    return FeatureStore(backbone, FeatureCache(cache_dir, key), SETTINGS, image_batch=1)


def write_and_rewrite(cache_dir: str, start, rounds: int) -> int:
    """Extract every id, then reload and overwrite every entry ``rounds`` times; returns the unreadable loads."""
    store = make_store(Path(cache_dir))
    start.wait()  # all workers begin together
    store.precompute(IMAGE_IDS, noise_image)
    unreadable = 0
    for _ in range(rounds):
        for image_id in IMAGE_IDS:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                dense = store.cache.load(image_id)
            unreadable += dense is None or bool(caught)
            if dense is not None:
                store.cache.save(image_id, dense)
    return unreadable


def hang_while_writing(cache_dir: Path, hang_id: str, marker: Path) -> None:
    real_save_file = cache_module.save_file

    def half_written_then_hang(tensors, filename, metadata=None):
        real_save_file(tensors, filename, metadata=metadata)
        if metadata["image_id"] == hang_id:
            os.truncate(filename, os.path.getsize(filename) // 2)
            marker.write_text(str(filename))
            time.sleep(600)  # killed here

    cache_module.save_file = half_written_then_hang
    make_store(cache_dir, sleep_s=0.05).precompute(IMAGE_IDS, noise_image)


if __name__ == "__main__":
    hang_while_writing(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
