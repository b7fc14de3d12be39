"""The on-disk presence index (protocol §2.2): round trip, reuse, invalidation, safe writes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from data.small_toy import CountingReader, small_toy_spec, split_only_store

import rns_bench.data.presence_index as presence_module
from rns_bench.data.presence_index import PresenceIndex, PresenceKey, compute_presence
from rns_bench.runs.context import prepare_context

SHORT = 96  # a support resize that shrinks the toy images (160-256 px), so erased classes matter


@pytest.fixture
def reader(data_root: Path) -> CountingReader:
    return small_toy_spec().make_reader(data_root)


def _index(cache: Path, short_side: int | None = SHORT, **changes) -> PresenceIndex:
    key = dataclasses.replace(PresenceKey.for_dataset(small_toy_spec(), short_side), **changes)
    return PresenceIndex(cache, key, num_classes=16)


def test_round_trip_equals_direct_computation_and_reuse_reads_no_label(tmp_path: Path, reader) -> None:
    ids = reader.image_ids("train")
    expected = compute_presence(reader.read_label, ids, 16, SHORT)
    reads = reader.label_reads
    first = _index(tmp_path).rows(ids[::-1], reader.read_label)
    assert reader.label_reads == reads + len(ids)
    assert np.array_equal(first, expected[::-1])
    again = _index(tmp_path).rows(ids[3:7], reader.read_label)  # a fresh object: rows come from disk
    assert reader.label_reads == reads + len(ids)
    assert np.array_equal(again, expected[3:7]) and again.dtype == bool
    assert _index(tmp_path).rows([], reader.read_label).shape == (0, 16)


def test_a_context_with_a_cache_dir_reuses_rows_across_seeds_shots_and_processes(tmp_path, data_root) -> None:
    spec = small_toy_spec()
    in_memory = prepare_context(spec, data_root, split_only_store(SHORT))
    cached = prepare_context(spec, data_root, split_only_store(SHORT), presence_cache_dir=tmp_path)
    for shots, seed in [(1, 100), (2, 18)]:
        assert cached.support_split(shots, seed) == in_memory.support_split(shots, seed)
    assert cached.reader.label_reads == 15  # each train image once, for all seeds and shots
    later = prepare_context(spec, data_root, split_only_store(SHORT), presence_cache_dir=tmp_path)  # "next run"
    assert later.support_split(5, 42) == in_memory.support_split(5, 42)
    assert later.reader.label_reads == 0
    assert len(list(tmp_path.rglob("*.safetensors"))) == 1


def test_without_a_cache_dir_rows_stay_in_memory(tmp_path: Path, data_root: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    context = prepare_context(small_toy_spec(), data_root, split_only_store(SHORT))
    context.support_split(1, 100)
    context.support_split(3, 18)
    assert context.reader.label_reads == 15  # once per image, shared by the two splits
    assert not list(tmp_path.rglob("*"))  # nothing written anywhere


@pytest.mark.parametrize(
    "change",
    [
        {"data_version": "small-v2"},
        {"class_list_sha256": "0" * 64},
        {"dataset": "toy_other"},
        {"short_side": None},
        {"format": "presence-v0"},
    ],
)
def test_a_changed_key_selects_a_new_entry_and_recomputes(tmp_path: Path, reader, change: dict) -> None:
    ids = reader.image_ids("train")[:4]
    original = _index(tmp_path)
    original.rows(ids, reader.read_label)
    changed = _index(tmp_path, **change)
    assert changed.path != original.path
    reads = reader.label_reads
    changed.rows(ids, reader.read_label)
    assert reader.label_reads == reads + len(ids)
    assert original.path.exists() and changed.path.exists()


def test_the_short_side_changes_presence(tmp_path: Path, reader) -> None:
    ids = reader.image_ids("train")
    tiny = _index(tmp_path, short_side=8).rows(ids, reader.read_label)  # 8 px: small objects vanish
    full = _index(tmp_path, short_side=None).rows(ids, reader.read_label)
    assert (tiny <= full).all() and tiny.sum() < full.sum()


class Crash(Exception):
    """Stands for the process dying while the index file is written."""


def _crashing_save(tensors, filename, metadata=None):
    Path(filename).write_bytes(b"half a safetensors file")
    raise Crash


def test_an_interrupted_write_leaves_no_corrupt_entry(tmp_path: Path, reader, monkeypatch) -> None:
    ids = reader.image_ids("train")
    monkeypatch.setattr(presence_module, "save_file", _crashing_save)
    with pytest.raises(Crash):
        _index(tmp_path).rows(ids[:3], reader.read_label)
    assert not _index(tmp_path).path.exists()  # no entry at all rather than half of one
    monkeypatch.undo()
    _index(tmp_path).rows(ids[:3], reader.read_label)
    monkeypatch.setattr(presence_module, "save_file", _crashing_save)
    with pytest.raises(Crash):
        _index(tmp_path).rows(ids[3:6], reader.read_label)
    assert set(_index(tmp_path).read()) == set(ids[:3])  # the earlier entry is intact
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_long_computations_checkpoint_so_an_interruption_keeps_the_finished_rows(tmp_path: Path, reader) -> None:
    ids = reader.image_ids("train")

    def read_until_the_tenth(image_id: str) -> np.ndarray:
        if image_id == ids[9]:
            raise Crash
        return reader.read_label(image_id)

    with pytest.raises(Crash):
        PresenceIndex(tmp_path, _index(tmp_path).key, 16, checkpoint_every=4).rows(ids, read_until_the_tenth)
    assert list(_index(tmp_path).read()) == ids[:8]


def test_a_corrupt_entry_is_reported_and_rebuilt(tmp_path: Path, reader) -> None:
    index = _index(tmp_path)
    index.path.parent.mkdir(parents=True)
    index.path.write_bytes(b"not safetensors")
    with pytest.warns(UserWarning, match="unreadable presence index"):
        rows = index.rows(reader.image_ids("train")[:2], reader.read_label)
    assert set(_index(tmp_path).read()) == set(reader.image_ids("train")[:2])
    assert rows.shape == (2, 16)


def test_two_writers_merge_instead_of_overwriting(tmp_path: Path, reader) -> None:
    ids = reader.image_ids("train")
    first, second = _index(tmp_path), _index(tmp_path)

    def read_while_the_other_writer_stores(image_id: str) -> np.ndarray:
        if not first.path.exists():  # the first writer finishes while the second one computes
            first.rows(ids[:5], reader.read_label)
        return reader.read_label(image_id)

    second.rows(ids[5:9], read_while_the_other_writer_stores)
    assert set(_index(tmp_path).read()) == set(ids[:9])
