"""Support drawn from another dataset (Fig. 9): support_dataset=acdc dataset=cityscapes."""

from __future__ import annotations

import shutil

import pytest
from bench_config import bench_config
from data.fake_datasets import write_fake_dataset

from rns_bench.bench.sweep import run_sweep
from rns_bench.core.errors import ConfigError
from rns_bench.data.declared import spec_for_key
from rns_bench.runs.records import read_records

RUN = ("backbone=random_vlm", "shots=[1]", "seeds=[100,18]", "methods=[zero_shot,rns]")


def _cityscapes_as_acdc(data_root):
    """ACDC's layout holding Cityscapes' own files, in the same listing order (fog only)."""
    city = write_fake_dataset("cityscapes", data_root)
    for split in ("train", "val"):
        for index, image_id in enumerate(city.split_ids[split]):
            stem = f"fog/{split}/GOPR0001/GOPR0001_frame_{index:06d}"
            for source, folder, suffix in (
                (city.image_paths[image_id], "rgb_anon", "_rgb_anon.png"),
                (city.label_paths[image_id], "gt", "_gt_labelTrainIds.png"),
            ):
                target = data_root / "acdc" / folder / f"{stem}{suffix}"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
    for condition in ("night", "rain", "snow"):  # the declared groups must exist; empty is allowed
        for folder in ("rgb_anon", "gt"):
            for split in ("train", "val"):
                (data_root / "acdc" / folder / condition / split).mkdir(parents=True, exist_ok=True)
    return city


def test_support_from_another_dataset_with_the_same_images_gives_the_in_domain_numbers(tmp_path):
    """The ACDC copy holds Cityscapes' train images in the same order, so the sampler draws the same
    images by position: support from it must give exactly the in-domain mIoU, from its own files."""
    data = tmp_path / "data"
    _cityscapes_as_acdc(data)
    run_sweep(bench_config(tmp_path, data, "dataset=cityscapes", *RUN))
    run_sweep(bench_config(tmp_path, data, "dataset=cityscapes", "support_dataset=acdc", *RUN))
    own = {(r.row, r.seed): r.to_json() for r in read_records(tmp_path / "results", "cityscapes", "random_vlm", "full")}
    other = {
        (r.row, r.seed): r.to_json()
        for r in read_records(tmp_path / "results", "cityscapes", "random_vlm", "full_support-acdc")
    }
    assert set(own) == set(other) and len(own) == 4
    acdc_train = spec_for_key("acdc", data).make_reader(data).image_ids("train")
    for cell, record in other.items():
        assert record["metrics"]["mIoU"] == own[cell]["metrics"]["mIoU"]
        assert record["support_dataset"] == "acdc" and own[cell]["support_dataset"] == "cityscapes"
        assert record["identity"]["data"]["support_dataset"]["dataset"] == "acdc"
        assert "support_dataset" not in own[cell]["identity"]["data"]  # in-domain identities unchanged
        assert set(record["support_split"]["image_ids"]) <= set(acdc_train)  # ACDC's files, not Cityscapes'
        assert record["num_test_images"] == own[cell]["num_test_images"] == 4
    assert record["fingerprint"] != own[cell]["fingerprint"]


def test_support_from_acdc_on_cityscapes_and_back(tmp_path):
    data = tmp_path / "data"
    write_fake_dataset("cityscapes", data)
    write_fake_dataset("acdc", data)
    for test, support in (("cityscapes", "acdc"), ("acdc", "cityscapes")):
        board = run_sweep(bench_config(tmp_path, data, f"dataset={test}", f"support_dataset={support}", *RUN))
        assert f"{test} · random_vlm · full_support-{support}" in board  # the leaderboard names both
        train = spec_for_key(support, data).make_reader(data).image_ids("train")
        folder = f"full_support-{support}"
        records = [r.to_json() for r in read_records(tmp_path / "results", test, "random_vlm", folder)]
        assert len(records) == 4
        assert all(set(r["support_split"]["image_ids"]) <= set(train) for r in records)


def test_mismatched_class_lists_name_the_first_differing_class_before_any_work(tmp_path):
    data = tmp_path / "data"
    write_fake_dataset("cityscapes", data)
    write_fake_dataset("food", data)
    with pytest.raises(
        ConfigError,
        match=r"support_dataset=food.*class 0: 'background' in food, 'road' in "
        r"cityscapes \(104 vs 19 classes\)",
    ):
        run_sweep(bench_config(tmp_path, data, "dataset=cityscapes", "support_dataset=food", *RUN))
    assert not (tmp_path / "cache").exists()
