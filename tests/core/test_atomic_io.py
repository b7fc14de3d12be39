"""One atomic-write module: complete files or none, exclusive records, normal permissions, dead temps removed."""

from __future__ import annotations

import json
import os
import stat

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
