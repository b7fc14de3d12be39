"""One atomic-write module: complete files or none, exclusive records, normal permissions, dead temps removed."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch

from rns_bench.core.atomic_io import remove_stale_temps, temp_path, write_json_atomic
from rns_bench.features.cache import FeatureCache, FeatureKey
from rns_bench.features.dense import DenseFeatures
from rns_bench.features.settings import ExtractionSettings, WindowSpec


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_json_is_replaced_atomically_or_kept_when_exclusive(tmp_path, umask_022):
    path = tmp_path / "a" / "record.json"
    assert write_json_atomic(path, {"x": 1}, exclusive=True)
    assert not write_json_atomic(path, {"x": 2}, exclusive=True)  # finished records are never replaced
    assert json.loads(path.read_text()) == {"x": 1}
    assert write_json_atomic(path, {"x": 3})  # a tuned file may be replaced
    assert json.loads(path.read_text()) == {"x": 3}
    assert _mode(path) == 0o644  # not mkstemp's 0600: a shared results folder stays readable
    assert list(path.parent.iterdir()) == [path]  # no temp left behind
    with pytest.raises(ValueError):
        write_json_atomic(path, {"x": float("nan")})
    assert json.loads(path.read_text()) == {"x": 3} and list(path.parent.iterdir()) == [path]


def test_cache_entries_get_normal_permissions(tmp_path, umask_022):
    settings = ExtractionSettings(None, (WindowSpec(64, 32),))
    cache = FeatureCache(tmp_path, FeatureKey.create("random_vlm", {}, settings))
    cache.save("img", DenseFeatures(torch.zeros(2, 2, 4), (32, 32)))
    assert _mode(cache.path("img")) == 0o644 and _mode(cache.dir / "key.json") == 0o644


def test_a_dead_writers_temp_is_removed_and_a_live_ones_kept(tmp_path):
    live = temp_path(tmp_path / "entry.bin")
    live.write_text("mine")
    dead = tmp_path / f".entry.bin.{live.name.split('.')[3]}.999999999.deadbeef.tmp"
    dead.write_text("killed")
    assert remove_stale_temps(tmp_path) == [dead] and live.exists()


def test_a_sweep_replaces_symlinks_planted_at_its_outputs_and_never_writes_through_them(tmp_path, toy_data_root):
    """A shared, group-writable results folder: another user's link must not make the sweep overwrite its target."""
    from bench_config import bench_config

    from rns_bench.bench.sweep import run_sweep

    outputs = tmp_path / "results" / "toy" / "toy_vlm" / "full"
    outputs.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.png"):
        (outputs / name).symlink_to(victim)
    cfg = bench_config(tmp_path, toy_data_root, "shots=[1]", "seeds=[100]", "test_limit=2", "methods=[zero_shot]")
    from rns_bench.runs.config import RunConfig
    from rns_bench.runs.context import build_context
    from rns_bench.runs.key import RunKey
    from rns_bench.runs.plan import plan_run

    run = RunConfig.of(cfg)
    plan = plan_run(
        run, build_context(run), run.row("zero_shot"), RunKey("toy", "toy_vlm", "full", "zero_shot", 1, 100)
    )
    logs = (
        tmp_path / "results" / "logs" / "toy" / "toy_vlm" / "full" / "zero_shot" / f"B1_seed100-{plan.fingerprint[:12]}"
    )
    logs.mkdir(parents=True)
    for name in ("metrics.csv", "hparams.yaml"):  # Lightning's CSV logger writes these in place
        (logs / name).symlink_to(victim)
    run_sweep(cfg)
    assert victim.read_text() == "precious"
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.png"):
        assert not (outputs / name).is_symlink() and (outputs / name).stat().st_size > 0
    assert not any(path.is_symlink() for path in logs.iterdir())


def test_a_full_disk_is_one_line_naming_the_file_and_the_old_file_stays(tmp_path, monkeypatch):
    import errno

    from rns_bench.core.atomic_io import write_json_atomic, write_text_atomic
    from rns_bench.core.errors import InputError

    target = tmp_path / "leaderboard.csv"
    target.write_text("old")

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(InputError, match=f"no space left on the disk of {target} .*free space"):
        write_text_atomic(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["leaderboard.csv"]

    monkeypatch.setattr(json, "dump", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(InputError, match="record.json"):
        write_json_atomic(tmp_path / "record.json", {"a": 1}, exclusive=True)


def test_a_full_disk_while_caching_features_names_the_cache_file(tmp_path, monkeypatch):
    from features.extract_worker import IMAGE_IDS, make_store
    from features.fake_backbones import noise_image
    from safetensors import SafetensorError

    import rns_bench.features.cache as cache_module
    from rns_bench.core.errors import InputError

    def full(*args, **kwargs):
        raise SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
        )

    monkeypatch.setattr(cache_module, "save_file", full)
    store = make_store(tmp_path)
    with pytest.raises(InputError, match=r"no space left on the disk of .*\.safetensors"):
        store.precompute(IMAGE_IDS[:2], noise_image)
