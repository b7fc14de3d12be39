"""The extraction pipeline around the backbone: read-ahead in worker processes, cache writes on a thread."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from bench_config import bench_config
from features.extract_worker import IMAGE_IDS, make_store
from features.fake_backbones import noise_image

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.data.readers.label_reader import decode_image
from rns_bench.features.cache import FeatureCache
from rns_bench.features.dense import padded_pixels
from rns_bench.features.pipeline import loader_workers, prepared_batches
from rns_bench.runs.config import extraction_options


def test_worker_processes_prepare_the_images_outside_this_process_and_the_cache_gets_the_same_features(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()

    def load_and_note_the_process(image_id: str):
        (pids / image_id).write_text(str(os.getpid()))
        return noise_image(image_id)

    batches = list(prepared_batches(IMAGE_IDS, load_and_note_the_process, 48, 16, batch_size=3, workers=2, pin=False))
    assert [[item.image_id for item in batch] for batch in batches] == [IMAGE_IDS[:3], IMAGE_IDS[3:6], IMAGE_IDS[6:]]
    for item in (item for batch in batches for item in batch):
        pixels, size = padded_pixels(noise_image(item.image_id), 48, 16)
        assert torch.equal(item.pixels, pixels) and item.resized_hw == size
    assert os.getpid() not in {int((pids / i).read_text()) for i in IMAGE_IDS}

    thread, workers = make_store(tmp_path / "thread"), make_store(tmp_path / "workers")
    workers.loader_workers = 2
    for store in (thread, workers):
        store.precompute(IMAGE_IDS, noise_image)
    for image_id in IMAGE_IDS:
        assert torch.equal(thread.cache.load(image_id).features, workers.cache.load(image_id).features)


@pytest.mark.parametrize("workers", [0, 2])
def test_an_unreadable_image_fails_in_one_line_naming_the_file(tmp_path: Path, workers: int) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    store = make_store(tmp_path / "cache")
    store.loader_workers = workers
    with pytest.raises(InputError) as raised:
        store.precompute(["bad"], lambda image_id: decode_image(tmp_path / f"{image_id}.jpg"))
    assert str(tmp_path / "bad.jpg") in str(raised.value) and "\n" not in str(raised.value)


def test_queued_cache_writes_are_done_when_precompute_returns_and_a_failed_write_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = FeatureCache.save
    written: list[str] = []

    def slow_save(cache, image_id, dense):
        import time

        time.sleep(0.05)  # slower than the backbone: writes queue up behind extraction
        real_save(cache, image_id, dense)
        written.append(image_id)

    monkeypatch.setattr(FeatureCache, "save", slow_save)
    store = make_store(tmp_path / "cache")
    report = store.precompute(IMAGE_IDS, noise_image)
    assert report.extracted == len(IMAGE_IDS) and sorted(written) == sorted(IMAGE_IDS)
    assert all(store.cache.has(image_id) for image_id in IMAGE_IDS)

    def failing_save(cache, image_id, dense):
        raise OSError(f"disk full writing {image_id}")

    monkeypatch.setattr(FeatureCache, "save", failing_save)
    with pytest.raises(OSError, match="disk full writing other"):
        make_store(tmp_path / "other_cache").precompute(["other"], noise_image)


def test_a_stopped_consumer_keeps_every_feature_it_was_given_in_the_cache(tmp_path: Path) -> None:
    store = make_store(tmp_path / "cache")
    extraction = store._extract(list(IMAGE_IDS), noise_image)
    given = [next(extraction)[0] for _ in range(3)]
    extraction.close()  # as when the caller fails: the writer's queue is drained, not dropped
    assert all(store.cache.has(image_id) for image_id in given)


@pytest.mark.parametrize("value", [-1, "many", 1.5, True])
def test_a_bad_loader_workers_value_fails_before_any_work(tmp_path: Path, toy_data_root: Path, value) -> None:
    cfg = bench_config(tmp_path, toy_data_root, f"extraction.loader_workers={value}")
    with pytest.raises(ConfigError, match="extraction.loader_workers"):
        extraction_options(cfg.extraction)


def test_auto_loader_workers_is_the_reader_thread_on_cpu_and_worker_processes_on_gpu() -> None:
    assert loader_workers("auto", torch.device("cpu")) == 0
    assert loader_workers("auto", torch.device("cuda")) >= 1
    assert loader_workers(3, torch.device("cpu")) == 3
