"""Reproduction packs end to end on the toy: a sweep fills the caches, ``features export`` packs them,
``features import`` fills a fresh cache, and the same sweep then extracts nothing and writes the same
records (with ``extraction.backbone=cached`` without ever building the backbone). A pack of other
settings or data, a damaged shard and an unreachable Hub are refused in one line, writing nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bench_config import bench_config

import rns_bench.runs.weights as weights_module
from rns_bench.bench.sweep import SweepStats, run_sweep
from rns_bench.cli.features import main
from rns_bench.features.cache import FeatureCache
from rns_bench.runs.records import read_records

SWEEP = (
    "shots=[1]",
    "seeds=[100]",
    "test_limit=4",
    "methods=[zero_shot,knn_clip,freeda,rns,rns_wo_text,linear_class_features]",
    "rows.rns.options.steps=5",
    "rows.rns_wo_text.options.steps=5",
    "tuning.n_trials=1",
    "extraction.support_prefetch=drawn",
)
# What says when and where a record was made, not what it is: left out of the comparison.
VOLATILE = {"config", "created", "environment", "seconds_per_image", "timings_s", "predictions"}


def _folders(root: Path, data_root: Path) -> list[str]:
    return [
        f"data_root={data_root}",
        f"cache_dir={root / 'cache'}",
        f"presence_cache_dir={root / 'presence'}",
        f"results_dir={root / 'results'}",
        f"region_cache_dir={root / 'regions'}",
    ]


def _records(root: Path, protocol: str = "full") -> dict[str, dict]:
    """Records by fingerprint, less VOLATILE fields; a tuned-parameter file by its name (it holds a fingerprint)."""
    records = {}
    for record in read_records(root / "results", "toy", "toy_vlm", protocol):
        kept = {k: v for k, v in record.to_json().items() if k not in VOLATILE}
        if kept.get("tuned_params"):
            kept["tuned_params"] = Path(kept["tuned_params"]).name
        records[record.fingerprint] = kept
    return records


@pytest.fixture(scope="module")
def exported(tmp_path_factory, toy_data_root) -> tuple[Path, Path]:
    """(the folder of the original sweep, its pack): a toy sweep of every feature method, then exported."""
    origin = tmp_path_factory.mktemp("origin")
    run_sweep(bench_config(origin, toy_data_root, *SWEEP))
    pack = origin / "pack"
    assert main(["export", f"pack={pack}", *_folders(origin, toy_data_root), *SWEEP]) == 0
    return origin, pack


def _import(pack: Path, root: Path, data_root: Path, *extra: str) -> int:
    return main(["import", f"pack={pack}", *_folders(root, data_root), *extra])


def test_an_imported_pack_reruns_the_sweep_without_extracting(exported, tmp_path, toy_data_root, extracted, capsys):
    origin, pack = exported
    assert _import(pack, tmp_path, toy_data_root) == 0
    out = capsys.readouterr().out
    assert "sha256 verified" in out and "sweep with: python -m rns_bench.bench dataset=toy backbone=toy_vlm" in out
    run_sweep(bench_config(tmp_path, toy_data_root, *SWEEP))
    assert "features extracted by this sweep: 0 test, 0 support images" in capsys.readouterr().out
    assert extracted == []
    original = _records(origin)
    assert len(original) == 6 and _records(tmp_path) == original  # same fingerprints, metrics, splits

    entries = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.safetensors")}
    assert _import(pack, tmp_path, toy_data_root) == 0  # again: every entry is there, nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in entries} == entries
    assert main(["export", f"pack={pack}", *_folders(origin, toy_data_root), *SWEEP]) == 2  # a pack is written whole
    assert "exists and is not empty" in capsys.readouterr().err


def test_with_the_cached_backbone_no_backbone_is_ever_built(exported, tmp_path, toy_data_root, monkeypatch):
    origin, pack = exported
    assert _import(pack, tmp_path, toy_data_root) == 0

    def no_backbone(*args, **kwargs):
        raise AssertionError("a sweep over an imported pack must not build the backbone")

    monkeypatch.setattr(weights_module, "build_backbone", no_backbone)
    stats = SweepStats()
    run_sweep(bench_config(tmp_path, toy_data_root, *SWEEP, "extraction.backbone=cached"), stats)
    assert stats.context.test_store.extracted == stats.context.support_store.extracted == 0
    assert _records(tmp_path) == _records(origin)


def test_the_pack_is_a_hub_dataset_folder_whose_manifest_covers_every_file(exported) -> None:
    from huggingface_hub import DatasetCard

    _, pack = exported
    card = DatasetCard.load(pack / "README.md")
    assert "rns-bench" in card.data.tags and card.data.viewer is False
    manifest = json.loads((pack / "manifest.json").read_text())
    listed = {shard["file"] for cache in manifest["caches"].values() for shard in cache["shards"]}
    on_disk = {p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file()}
    assert on_disk == listed | {"README.md", "manifest.json"}
    (part,) = manifest["parts"]
    key = manifest["caches"][part["caches"]["test"]]["key"]
    assert key["storage_dtype"] == "float32" and key["pixel_pipeline"] == manifest["pixel_pipeline"]
    assert part["data_identity"]["num_test_images"] == 4 and part["images"]["test"] == 4


def _edited(pack: Path, tmp_path: Path, edit) -> Path:
    copy = tmp_path / "edited"
    shutil.copytree(pack, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    edit(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def _set_test_key(field: str, value):
    def edit(manifest: dict) -> None:
        (part,) = manifest["parts"]
        manifest["caches"][part["caches"]["test"]]["key"][field] = value

    return edit


def _set_data(field: str, value):
    def edit(manifest: dict) -> None:
        manifest["parts"][0]["data_identity"][field] = value

    return edit


SHORT_SIDE_448 = {"short_side": 448, "windows": None}
TEST_WINDOWS = "+backbone.test={windows:[{crop:64,stride:32}]}"


@pytest.mark.parametrize(
    "edit, arguments, message",
    [
        (_set_test_key("pixel_pipeline", "pil-bilinear-v0"), (), 'pixel_pipeline: pack "pil-bilinear-v0", yours "cv2'),
        (_set_test_key("storage_dtype", "float16"), (), 'storage_dtype: pack "float16", yours "float32"'),
        (_set_test_key("settings", SHORT_SIDE_448), (), "settings.short_side: pack 448, yours null"),
        (_set_data("test_contents_sha256", "0" * 64), (), "made from other data than your toy under data_root"),
        (None, ("test_limit=3",), "num_test_images: pack 4, yours 3"),
        (None, (TEST_WINDOWS,), "settings.windows: pack null, yours [[64, 32]]"),
        (None, ("backbone=random_vlm",), "no features for backbone=random_vlm: it holds dataset=toy backbone=toy_vlm"),
    ],
)
def test_a_pack_of_other_settings_or_data_is_refused_naming_the_difference(
    exported, tmp_path, toy_data_root, capsys, edit, arguments, message
) -> None:
    _, pack = exported
    source = _edited(pack, tmp_path, edit) if edit else pack
    assert _import(source, tmp_path / "user", toy_data_root, *arguments) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1, error
    assert not list((tmp_path / "user").rglob("*.safetensors"))  # nothing written


def test_a_corrupted_shard_fails_its_sha256_check_naming_the_file(exported, tmp_path, toy_data_root, capsys) -> None:
    _, pack = exported
    copy = tmp_path / "damaged"
    shutil.copytree(pack, copy)
    shard = next(copy.glob("features/*/00000.safetensors"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert _import(copy, tmp_path / "user", toy_data_root) == 2
    error = capsys.readouterr().err.strip()
    assert f"pack shard {shard} fails its sha256 check" in error and len(error.splitlines()) == 1
    assert not list((tmp_path / "user").rglob("*.safetensors"))


def test_an_import_that_crashes_leaves_no_half_cache(exported, tmp_path, toy_data_root, monkeypatch) -> None:
    _, pack = exported
    real, saved = FeatureCache.save, []

    def crash_after_three(self, image_id, dense):
        if len(saved) == 3:
            raise KeyboardInterrupt
        saved.append(image_id)
        real(self, image_id, dense)

    monkeypatch.setattr(FeatureCache, "save", crash_after_three)
    assert _import(pack, tmp_path, toy_data_root) == 130
    assert len(saved) == 3
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []  # not an entry, not the staging folder


@pytest.mark.parametrize(
    "environment, reason",
    [
        ({"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE=1 forbids downloading it; unset HF_HUB_OFFLINE, or `hf download"),
        ({"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}, "from http://127.0.0.1:9 ("),
    ],
)
def test_a_hub_pack_offline_fails_fast_in_one_line(tmp_path, toy_data_root, monkeypatch, capsys, environment, reason):
    import time

    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", environment["HF_HUB_OFFLINE"] == "1")  # as read on import
    started = time.perf_counter()
    assert _import("hf://datasets/rns-bench/toy-pack", tmp_path, toy_data_root) == 2
    assert time.perf_counter() - started < 10
    error = capsys.readouterr().err.strip()
    assert "dataset repo rns-bench/toy-pack" in error and reason in error and len(error.splitlines()) == 1, error


def test_export_refuses_a_cache_without_the_test_features(tmp_path, toy_data_root, capsys) -> None:
    assert main(["export", f"pack={tmp_path / 'pack'}", *_folders(tmp_path, toy_data_root), *SWEEP]) == 2
    error = capsys.readouterr().err
    assert "4 of the 4 test features of toy are not in" in error and "python -m rns_bench.features extract" in error
    assert not (tmp_path / "pack").exists()


def test_region_maps_travel_in_the_pack(tmp_path, toy_data_root, capsys) -> None:
    sweep = ("shots=[1]", "seeds=[100]", "test_limit=2", "methods=[zero_shot]", "query_mode=region")
    region = (*sweep, "proposer=felzenszwalb")
    origin, user = tmp_path / "origin", tmp_path / "user"
    run_sweep(bench_config(origin, toy_data_root, *region, f"region_cache_dir={origin / 'regions'}"))
    pack = tmp_path / "pack"
    assert main(["export", f"pack={pack}", *_folders(origin, toy_data_root), *region]) == 0
    assert "2 region maps" in capsys.readouterr().out
    assert _import(pack, user, toy_data_root) == 0
    assert "region maps: 2 entries" in capsys.readouterr().out
    stats = SweepStats()
    run_sweep(bench_config(user, toy_data_root, *region, f"region_cache_dir={user / 'regions'}"), stats)
    assert stats.context.region_store.proposed == 0 and stats.context.test_store.extracted == 0
    protocol = "full_region-felzenszwalb"
    assert _records(user, protocol) == _records(origin, protocol) and len(_records(origin, protocol)) == 1
