"""Every real dataset key end to end through the sweep, on fake datasets in the real layouts."""

from __future__ import annotations

import pytest
from bench_config import bench_config
from data.fake_datasets import BENCHMARK_KEYS, write_fake_dataset

from rns_bench.bench.sweep import run_sweep
from rns_bench.core.errors import InputError
from rns_bench.data.declared import spec_for_key
from rns_bench.runs.records import read_records


@pytest.mark.parametrize("key", BENCHMARK_KEYS + ("food", "cub", "acdc"))  # configs/dataset/<key>.yaml
def test_fake_dataset_runs_through_the_bench(key, tmp_path):
    fake = write_fake_dataset(key, tmp_path / "data")
    spec = spec_for_key(key, tmp_path / "data")
    cfg = bench_config(
        tmp_path,
        tmp_path / "data",
        f"dataset={key}",
        "backbone=random_vlm",
        "shots=[1]",
        "seeds=[100,18]",
        "methods=[zero_shot,rns]",
    )
    board = run_sweep(cfg)
    records = [r.to_json() for r in read_records(tmp_path / "results", key, "random_vlm", "full")]
    assert len(records) == 4 and "| rns |" in board
    classes = spec.class_names()
    for record in records:
        assert record["num_test_images"] == len(fake.split_ids[spec.test_split])
        assert sorted(record["metrics"]["per_class_IoU"]) == sorted(classes)
        assert record["class_list_sha256"] == spec.class_list_sha256()
        # B = 1: every class of the train split has a support image.
        assert 1 <= len(record["support_split"]["image_ids"]) <= len(fake.split_ids[spec.support_split])


def test_missing_dataset_names_the_expected_folder_and_the_fix(tmp_path):
    with pytest.raises(InputError, match=r"VOCdevkit.VOC2010"):
        run_sweep(bench_config(tmp_path, tmp_path / "empty", "dataset=context", "backbone=random_vlm"))


def test_a_real_dataset_picks_the_papers_backbone_unless_told(tmp_path, monkeypatch):
    """dataset=voc alone means OpenCLIP ViT-B/16 (configs/dataset/voc.yaml); offline and without its
    weights that is one error naming them; one override swaps in the tiny random twin."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hugging Face cache
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    write_fake_dataset("voc", tmp_path / "data")
    cfg = bench_config(tmp_path, tmp_path / "data", "dataset=voc", "shots=[1]", "seeds=[100]", "methods=[zero_shot]")
    assert cfg.backbone.name == "clip_b16"
    with pytest.raises(InputError, match=r"(?i)clip_b16.*(weights|laion2b_s34b_b88k)"):
        run_sweep(cfg)
    assert not (tmp_path / "cache").exists()  # failed before any extraction
    run_sweep(
        bench_config(
            tmp_path,
            tmp_path / "data",
            "dataset=voc",
            "backbone=clip_tiny",
            "shots=[1]",
            "seeds=[100]",
            "methods=[zero_shot]",
        )
    )
    assert len(read_records(tmp_path / "results", "voc", "clip_tiny", "full")) == 1


def test_a_real_dataset_with_the_toy_backbone_fails_before_any_extraction_naming_the_fix(tmp_path):
    from rns_bench.core.errors import UnknownNameError

    write_fake_dataset("voc", tmp_path / "data")
    cfg = bench_config(
        tmp_path,
        tmp_path / "data",
        "dataset=voc",
        "backbone=toy_vlm",
        "shots=[1]",
        "seeds=[100]",
        "methods=[zero_shot]",
    )
    with pytest.raises(UnknownNameError, match="BACKBONE=clip_b16"):
        run_sweep(cfg)
    assert not (tmp_path / "cache").exists()
