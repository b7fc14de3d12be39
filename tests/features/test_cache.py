"""The feature cache: bit-exact round trips, keys, atomicity under concurrent writers, kill and resume."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from features import extract_worker
from features.extract_worker import IMAGE_IDS, make_store
from features.fake_backbones import noise_image

from rns_bench.core.errors import ConfigError
from rns_bench.features.cache import FeatureCache, FeatureKey
from rns_bench.features.dense import DenseFeatures
from rns_bench.features.settings import ExtractionSettings, WindowSpec

TEST = ExtractionSettings(448, (WindowSpec(448, 224),))
SUPPORT = ExtractionSettings(448, (WindowSpec(448, 112), WindowSpec(224, 112)))


def _key(**changes) -> FeatureKey:
    fields = {
        "backbone": "clip_b16",
        "backbone_options": {"pretrained": "laion2b_s34b_b88k", "device": "cuda"},
        "settings": TEST,
    }
    return FeatureKey.create(**{**fields, **changes})


def _dense(seed: int = 0) -> DenseFeatures:
    """(5, 7, 64) unit-norm random features of a 70 × 100 image."""
    features = torch.randn(5, 7, 64, generator=torch.Generator().manual_seed(seed))
    return DenseFeatures(torch.nn.functional.normalize(features, dim=-1), (70, 100))


def test_round_trip_is_bit_exact(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, _key())
    dense = _dense()
    assert cache.load("2008_000123") is None and not cache.has("2008_000123")
    cache.save("2008_000123", dense)
    loaded = cache.load("2008_000123")
    assert cache.has("2008_000123") and loaded.resized_hw == (70, 100)
    assert loaded.features.dtype == torch.float32 and torch.equal(loaded.features, dense.features)
    cache.save("aachen/aachen_000000_000019", dense)  # ids with slashes stay inside the cache folder
    assert cache.path("aachen/aachen_000000_000019").parent == cache.dir
    assert sorted(p.name for p in cache.dir.iterdir()) == [
        "2008_000123.safetensors",
        "aachen__aachen_000000_000019.safetensors",
        "key.json",
    ]


def test_float16_storage_loads_what_the_store_kept(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, _key(storage_dtype="float16"))
    dense = _dense()
    cache.save("a", dense)
    assert torch.equal(cache.load("a").features, cache.as_stored(dense).features)
    assert (cache.load("a").features - dense.features).abs().max() < 1e-3
    full = FeatureCache(tmp_path, _key())
    full.save("a", dense)
    header = 1024  # metadata (the key JSON) and tensor table, the same in both files
    assert cache.path("a").stat().st_size - header < 0.5 * full.path("a").stat().st_size
    with pytest.raises(ConfigError, match="float32, float16"):
        _key(storage_dtype="bfloat16")


def test_a_float16_cache_stays_float16_in_memory_and_is_handed_out_as_float32(tmp_path: Path) -> None:
    from rns_bench.backbones import build_backbone
    from rns_bench.features.store import FeatureStore

    settings = ExtractionSettings()
    half = FeatureStore(
        build_backbone("random_vlm"), FeatureCache(tmp_path, _key(storage_dtype="float16", settings=settings)), settings
    )
    (fresh,) = half.get(IMAGE_IDS[:1], noise_image)
    assert fresh.features.dtype == torch.float32 and half._memory[IMAGE_IDS[0]].features.dtype == torch.float16
    reread = FeatureStore(
        half.backbone, FeatureCache(tmp_path, _key(storage_dtype="float16", settings=settings)), settings
    )
    (cached,) = reread.get(IMAGE_IDS[:1], noise_image)
    assert torch.equal(cached.features, fresh.features)  # fresh and cached: the same numbers


def test_keys_cover_everything_that_changes_the_features(tmp_path: Path) -> None:
    base = FeatureCache(tmp_path, _key()).dir
    others = [
        _key(settings=SUPPORT),
        _key(settings=ExtractionSettings(336, TEST.windows)),
        _key(backbone="siglip2_l16"),
        _key(backbone_options={"pretrained": "openai"}),
        _key(storage_dtype="float16"),
        _key(autocast="bfloat16"),
        _key(autocast="float16"),
    ]
    assert len({FeatureCache(tmp_path, k).dir for k in others} | {base}) == len(others) + 1
    # where it runs and where files are found is not what it computes
    assert (
        FeatureCache(
            tmp_path, _key(backbone_options={"pretrained": "laion2b_s34b_b88k", "device": "cpu", "hf_cache_dir": "/x"})
        ).dir
        == base
    )


def test_an_entry_of_another_key_or_id_is_not_returned(tmp_path: Path) -> None:
    test_cache, support_cache = FeatureCache(tmp_path, _key()), FeatureCache(tmp_path, _key(settings=SUPPORT))
    test_cache.save("a", _dense())
    support_cache.dir.mkdir(parents=True)
    os.link(test_cache.path("a"), support_cache.path("a"))  # e.g. a folder copied by hand
    test_cache.path("a").rename(test_cache.path("b"))
    with pytest.warns(UserWarning, match="another key"):
        assert support_cache.load("a") is None
    with pytest.warns(UserWarning, match="written for 'a'"):
        assert test_cache.load("b") is None
    assert not test_cache.has("b") and not support_cache.has("a")


def test_a_corrupt_entry_is_reported_and_recomputed(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    expected = store.get(IMAGE_IDS[:1], noise_image)[0].features
    store.cache.path(IMAGE_IDS[0]).write_bytes(b"\x00garbage")
    fresh = make_store(tmp_path)
    with pytest.warns(UserWarning, match="unreadable feature cache entry"):
        assert torch.equal(fresh.get(IMAGE_IDS[:1], noise_image)[0].features, expected)
    assert torch.equal(fresh.cache.load(IMAGE_IDS[0]).features, expected)  # rewritten


def test_stale_temp_files_are_removed_live_ones_kept(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, _key())
    cache.dir.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname().replace(".", "-")
    dead_tmp = cache.dir / f".a.safetensors.{host}.{int(dead.stdout)}.0123abcd.tmp"
    live_tmp = cache.dir / f".b.safetensors.{host}.{os.getpid()}.0123abcd.tmp"
    other_host_tmp = cache.dir / ".c.safetensors.elsewhere.1.0123abcd.tmp"
    old_tmp = cache.dir / ".d.safetensors.elsewhere.1.0123abcd.tmp"
    for tmp in (dead_tmp, live_tmp, other_host_tmp, old_tmp):
        tmp.write_bytes(b"partial")
    os.utime(old_tmp, (time.time() - 2 * 24 * 3600,) * 2)
    assert sorted(cache.remove_stale_temps()) == sorted([dead_tmp, old_tmp])
    assert live_tmp.exists() and other_host_tmp.exists()
    assert cache.load("a") is None  # a temp file is never an entry


def test_concurrent_writers_and_readers_never_see_a_partial_entry(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = 3
    start = context.Manager().Barrier(workers)
    with context.Pool(workers) as pool:
        unreadable = pool.starmap(extract_worker.write_and_rewrite, [(str(tmp_path), start, 4)] * workers)
    assert unreadable == [0] * workers
    reference = make_store(tmp_path / "reference")
    reference.precompute(IMAGE_IDS, noise_image)
    shared = make_store(tmp_path)
    for image_id in IMAGE_IDS:
        assert torch.equal(shared.cache.load(image_id).features, reference.cache.load(image_id).features)
    assert not list(shared.cache.dir.glob(".*.tmp"))


def test_an_extraction_killed_in_the_middle_of_a_write_resumes_to_the_same_features(tmp_path: Path) -> None:
    cache_dir, marker, hang_id = tmp_path / "cache", tmp_path / "writing", IMAGE_IDS[3]
    worker = subprocess.Popen([sys.executable, extract_worker.__file__, str(cache_dir), hang_id, str(marker)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert worker.poll() is None, "the extraction worker died before reaching the write"
            assert time.monotonic() < deadline, "the extraction worker never reached the write"
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    store = make_store(cache_dir)
    partial = Path(marker.read_text())
    assert partial.exists() and partial.name.endswith(".tmp")  # killed between writing and renaming
    assert [store.cache.has(i) for i in IMAGE_IDS] == [True] * 3 + [False] * 5  # finished entries only
    assert store.cache.load(hang_id) is None

    report = store.precompute(IMAGE_IDS, noise_image)  # the rerun
    assert (report.cached, report.extracted) == (3, 5)
    assert not partial.exists() and not list(store.cache.dir.glob(".*.tmp"))  # the killed writer's temp is gone
    uninterrupted = make_store(tmp_path / "uninterrupted")
    uninterrupted.precompute(IMAGE_IDS, noise_image)
    for image_id in IMAGE_IDS:
        resumed, reference = store.cache.load(image_id), uninterrupted.cache.load(image_id)
        assert torch.equal(resumed.features, reference.features) and resumed.resized_hw == reference.resized_hw
