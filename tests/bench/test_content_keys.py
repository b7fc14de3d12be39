"""Caches and records keyed by everything that changes a number: the extraction's autocast dtype and the
data's content (a relabelled file, another copy of a dataset), and features shared by image content
(voc20 after voc extracts nothing)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from bench_config import bench_config
from data.fake_datasets import write_fake_dataset
from PIL import Image

from rns_bench.bench.sweep import run_sweep
from rns_bench.runs.records import read_records

SMALL = ("backbone=random_vlm", "shots=[1]", "seeds=[100]", "methods=[zero_shot,rns]", "rows.rns.options.steps=5")


def _records(results: Path, key: str) -> list[dict]:
    return [r.to_json() for r in read_records(results, key, "random_vlm", "full")]


def test_bf16_and_fp32_sweeps_never_read_each_others_features(tmp_path, extracted):
    data = tmp_path / "data"
    write_fake_dataset("voc", data)
    bf16_mixed = "trainer.precision=bf16-mixed"
    run_sweep(bench_config(tmp_path, data, "dataset=voc", *SMALL, "methods=[zero_shot]", bf16_mixed))
    bf16 = sum(extracted)
    assert bf16 > 0
    run_sweep(bench_config(tmp_path, data, "dataset=voc", *SMALL, "methods=[zero_shot]"))
    assert sum(extracted) == 2 * bf16  # the float32 sweep extracted every image again
    folders = sorted(p.name for p in (tmp_path / "cache").iterdir() if p.is_dir())
    assert len(folders) == 2  # one key each (test and support settings are the same for random_vlm)
    keys = [(tmp_path / "cache" / f / "key.json").read_text() for f in folders]
    assert sorted('"autocast": "bfloat16"' in k for k in keys) == [False, True]
    records = _records(tmp_path / "results", "voc")
    assert sorted(r["identity"]["extraction"]["autocast"] for r in records) == ["bfloat16", "none"]


def test_features_really_are_extracted_in_the_keyed_dtype(tmp_path):
    """bf16 extraction gives other numbers than float32 (so sharing a key would have been wrong), and the
    store applies its own autocast whatever context it is called in."""
    import torch

    from rns_bench.backbones import build_backbone
    from rns_bench.features.settings import ExtractionSettings
    from rns_bench.features.store import FeatureStore

    backbone = build_backbone("random_vlm")
    image = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    plain = FeatureStore(backbone, None, ExtractionSettings()).get(["a"], lambda _: image)[0].features
    with torch.autocast("cpu", dtype=torch.bfloat16):  # a caller's autocast (Lightning's bf16-mixed) is ignored
        inside = FeatureStore(backbone, None, ExtractionSettings()).get(["a"], lambda _: image)[0].features
    bf16 = FeatureStore(backbone, None, ExtractionSettings(), autocast="bfloat16").get(["a"], lambda _: image)[0]
    assert torch.equal(plain, inside)
    assert not torch.equal(plain, bf16.features) and torch.allclose(plain, bf16.features, atol=0.1)


def test_a_relabelled_val_label_reruns_the_records_and_reextracts_nothing(tmp_path, extracted):
    data = tmp_path / "data"
    fake = write_fake_dataset("voc", data)
    cfg = bench_config(tmp_path, data, "dataset=voc", *SMALL)
    run_sweep(cfg)
    before = {r["row"]: r for r in _records(tmp_path / "results", "voc")}
    first = sum(extracted)
    # one val label: every labelled pixel of its first class becomes another class
    path = fake.label_paths[fake.split_ids["val"][0]]
    with Image.open(path) as label_image:
        palette, label = label_image.getpalette(), np.array(label_image)
    values = [v for v in np.unique(label) if v != 255]
    label[label == values[0]] = (values[0] + 1) % 21
    relabelled = Image.fromarray(label, mode="P")
    relabelled.putpalette(palette)
    relabelled.save(path)

    run_sweep(cfg)
    assert sum(extracted) == first  # no image changed: nothing extracted again
    records = _records(tmp_path / "results", "voc")
    assert len(records) == 4  # new records beside the old ones
    after = {r["row"]: r for r in records if r["fingerprint"] != before[r["row"]]["fingerprint"]}
    assert sorted(after) == ["rns", "zero_shot"]
    assert after["zero_shot"]["metrics"]["mIoU"] != before["zero_shot"]["metrics"]["mIoU"]
    run_sweep(cfg)
    assert len(_records(tmp_path / "results", "voc")) == 4  # and the new ones are found again


def test_another_data_root_with_other_images_reuses_no_record_or_feature(tmp_path, extracted):
    write_fake_dataset("voc", tmp_path / "one", seed=0)
    write_fake_dataset("voc", tmp_path / "two", seed=1)
    run_sweep(bench_config(tmp_path, tmp_path / "one", "dataset=voc", *SMALL))
    first = sum(extracted)
    run_sweep(bench_config(tmp_path, tmp_path / "two", "dataset=voc", *SMALL))
    assert sum(extracted) >= first  # every test image of the other copy extracted (support may share none)
    records = _records(tmp_path / "results", "voc")
    assert len(records) == 4 and len({r["fingerprint"] for r in records}) == 4
    # an identical copy elsewhere is the same data: its records and features are found
    shutil.copytree(tmp_path / "one", tmp_path / "three")
    count = sum(extracted)
    run_sweep(bench_config(tmp_path, tmp_path / "three", "dataset=voc", *SMALL))
    assert sum(extracted) == count and len(_records(tmp_path / "results", "voc")) == 4


def test_voc20_after_voc_extracts_no_image(tmp_path, extracted):
    data = tmp_path / "data"
    write_fake_dataset("voc", data)
    write_fake_dataset("voc20", data)
    pool = ("extraction.support_prefetch=pool",)  # the whole train split, as on a real run (≤ 2000 images)
    run_sweep(bench_config(tmp_path, data, "dataset=voc", *SMALL, *pool))
    assert sum(extracted) > 0
    count = sum(extracted)
    run_sweep(bench_config(tmp_path, data, "dataset=voc20", *SMALL, *pool))
    assert sum(extracted) == count
    assert len(_records(tmp_path / "results", "voc20")) == 2
