"""Pack shards, manifests, sources and the atomic install, on small hand-checkable cases."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from rns_bench.core.atomic_io import temp_path
from rns_bench.core.errors import InputError
from rns_bench.features.pack_format import (
    MANIFEST_NAME,
    PACK_FORMAT,
    read_manifest,
    read_shard,
    verify_shards,
    write_shards,
)
from rns_bench.features.pack_install import InstallJob, install
from rns_bench.features.pack_source import pack_folder


def _entry(value: float) -> dict[str, torch.Tensor]:
    """One entry of 4 float32 features (16 bytes) and a 2-int64 size (16 bytes): 32 bytes of tensors."""
    return {"features": torch.full((1, 1, 4), value), "resized_hw": torch.tensor([1, 1])}


def test_shards_close_at_max_bytes_and_read_back_exactly(tmp_path: Path) -> None:
    entries = [(f"e{i}", _entry(float(i))) for i in range(3)]
    shards = write_shards(tmp_path, "features/k", iter(entries), max_bytes=64)  # two entries fill a shard
    assert [(s["file"], s["entries"]) for s in shards] == [
        ("features/k/00000.safetensors", 2),
        ("features/k/00001.safetensors", 1),
    ]
    read = [item for s in shards for item in read_shard(tmp_path / s["file"])]
    assert [name for name, _ in read] == ["e0", "e1", "e2"]
    for (_, ours), (_, back) in zip(entries, read, strict=True):
        assert set(back) == {"features", "resized_hw"}
        assert all(torch.equal(ours[k], back[k]) for k in ours)
    assert verify_shards(tmp_path, [{"shards": shards}]) == sum(s["bytes"] for s in shards)


def test_a_damaged_or_missing_shard_is_named(tmp_path: Path) -> None:
    shards = write_shards(tmp_path, "features/k", iter([("e", _entry(1.0))]), max_bytes=1 << 20)
    path = tmp_path / shards[0]["file"]
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # same size, one bit off
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"00000\.safetensors fails its sha256 check"):
        verify_shards(tmp_path, [{"shards": shards}])
    path.unlink()
    with pytest.raises(InputError, match=r"00000\.safetensors is missing"):
        verify_shards(tmp_path, [{"shards": shards}])


def test_a_manifest_of_another_format_names_both_formats(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"format": "rns-bench-pack-v0"}))
    with pytest.raises(InputError, match=f"pack format 'rns-bench-pack-v0'; this rns-bench reads '{PACK_FORMAT}'"):
        read_manifest(tmp_path)
    with pytest.raises(InputError, match="has no manifest.json"):
        read_manifest(tmp_path / "elsewhere")


def test_a_missing_local_pack_hints_at_the_hub_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"pack=org/name: no such pack folder .*named hf://datasets/<org>/<name>"):
        pack_folder("org/name")


def _writer(entries: dict[str, bytes], fail: bool = False):
    def write(staging: Path) -> int:
        folder = staging / "cache-a"
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in entries.items():
            (folder / name).write_bytes(data)
        if fail:
            raise OSError("disk full")
        return len(entries)

    return write


def test_an_install_that_fails_while_staging_leaves_the_cache_as_it_was(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    jobs = [
        InstallJob(root, root / "cache-a", _writer({"1.bin": b"one"})),
        InstallJob(root, root / "cache-b", _writer({"2.bin": b"two"}, fail=True)),
    ]
    with pytest.raises(OSError, match="disk full"):
        install(jobs)
    assert list(root.iterdir()) == []  # nothing moved, the staging folder removed


def test_install_merges_into_an_existing_folder_and_removes_a_killed_imports_staging(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    (root / "cache-a").mkdir(parents=True)
    (root / "cache-a" / "old.bin").write_bytes(b"old")
    (root / "cache-a" / "key.json").write_text("mine")
    live = temp_path(root / "pack-import")
    killed = live.with_name(".pack-import." + live.name.split(".")[2] + ".999999999.deadbeef.tmp")
    killed.mkdir()
    (killed / "half.bin").write_bytes(b"half")

    def write(staging: Path) -> int:
        _writer({"new.bin": b"new"})(staging)
        (staging / "cache-a" / "key.json").write_text("theirs")
        return 1

    assert install([InstallJob(root, root / "cache-a", write)]) == [1]
    assert sorted(p.name for p in root.iterdir()) == ["cache-a"]  # the killed import's staging is gone
    assert {p.name: p.read_bytes() for p in (root / "cache-a").iterdir()} == {
        "old.bin": b"old",
        "new.bin": b"new",
        "key.json": b"mine",
    }


def test_install_moves_card_jobs_last(tmp_path: Path, monkeypatch) -> None:
    root, moved = tmp_path / "cache", []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (moved.append(Path(b).name), real(a, b)))

    def card(staging: Path) -> int:
        (staging / "card.bin").write_bytes(b"card")
        return 1

    jobs = [InstallJob(root, root / "card.bin", card, last=True), InstallJob(root, root / "cache-a", _writer({}))]
    install(jobs)
    assert moved == ["cache-a", "card.bin"]
