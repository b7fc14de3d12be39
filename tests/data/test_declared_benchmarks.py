"""Declared datasets (configs/dataset/*.yaml): FoodSeg103, CUB and ACDC read from fakes in their real layouts;
the eight benchmarks are declarations too."""

from __future__ import annotations

import numpy as np
import pytest
from data.fake_datasets import ACDC_CONDITIONS, BENCHMARK_KEYS, CUB_SPECIES, write_cub_archives, write_fake_dataset
from PIL import Image

from rns_bench.core.errors import InputError
from rns_bench.data.declared import spec_for_key
from rns_bench.data.prepare.cub import IMAGE_DIR, LABEL_DIR, convert_cub
from rns_bench.data.verify import verify_dataset

# (classes, first class, support split, test split, counts) as MESS / the dataset papers give them.
EXPECTED = {
    "food": (104, "background", "train", "test", {"train": 4983, "test": 2135}),
    "cub": (201, "background", "train", "test", {"train": 5994, "test": 5794}),
    "acdc": (19, "road", "train", "val", {"train": 1600, "val": 406}),
}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_declared_spec_and_reader_read_what_the_fake_wrote(key, tmp_path):
    fake = write_fake_dataset(key, tmp_path)
    spec = spec_for_key(key, tmp_path)
    classes, first, support, test, counts = EXPECTED[key]
    names = spec.class_names()
    assert (len(names), names[0], spec.support_split, spec.test_split) == (classes, first, support, test)
    assert spec.expected_counts == counts
    reader = spec.make_reader(tmp_path)
    for split in (support, test):
        assert reader.image_ids(split) == fake.split_ids[split]
        for image_id in fake.split_ids[split]:
            np.testing.assert_array_equal(reader.read_label(image_id), fake.raw_labels[image_id])
            assert reader.read_image(image_id).shape[:2] == fake.raw_labels[image_id].shape
    report = verify_dataset(spec, tmp_path, expected_counts=fake.counts, progress=False)
    assert report.ok and report.labels_checked == sum(fake.counts.values())


def test_acdc_lists_the_four_conditions_in_order_and_shares_cityscapes_classes(tmp_path):
    write_fake_dataset("acdc", tmp_path)
    spec = spec_for_key("acdc", tmp_path)
    ids = spec.make_reader(tmp_path).image_ids("train")
    conditions = [image_id.split("/")[0] for image_id in ids]
    assert conditions == sorted(conditions, key=ACDC_CONDITIONS.index) and set(conditions) == set(ACDC_CONDITIONS)
    assert all(image_id.split("/")[1] == "train" for image_id in ids)
    assert spec.class_names() == spec_for_key("cityscapes", tmp_path).class_names()


def test_cub_preparation_takes_the_annotator_majority_and_the_species_number(tmp_path):
    archives = write_cub_archives(tmp_path, species=8)
    root = archives["root"]
    report = convert_cub(root)
    assert (report.written, report.skipped) == (12, 0)
    image_id = next(iter(archives["labels"]))  # train/<first image>: species 001
    label = np.asarray(Image.open(root / LABEL_DIR / f"{image_id}.png"))
    # Hand-built mask: 255 inside [10:22, 10:26] → 1; the 128 rim (a tie) and 0 → background.
    assert label[10, 10] == label[21, 25] == CUB_SPECIES[0][0] == 1
    assert label[8, 8] == label[9, 20] == label[0, 0] == 0
    assert set(np.unique(label)) == {0, 1}
    copied = root / IMAGE_DIR / f"{image_id}.jpg"
    original = next((root / "images").rglob(f"{image_id.split('/')[1]}.jpg"))
    assert copied.read_bytes() == original.read_bytes()  # copied, not re-encoded
    assert len(list((root / LABEL_DIR / "test").glob("*.png"))) == 4
    assert len(list((root / LABEL_DIR / "train").glob("*.png"))) == 8
    again = convert_cub(root)
    assert (again.written, again.skipped) == (0, 12)  # resumes: nothing redone


def test_cub_preparation_names_a_missing_mask_before_writing_anything(tmp_path):
    root = write_cub_archives(tmp_path, species=8)["root"]
    missing = sorted((root / "segmentations").rglob("*.png"))[5]
    missing.unlink()
    with pytest.raises(InputError, match=rf"{missing.name}.*segmentations\.tgz"):
        convert_cub(root)
    assert not (root / LABEL_DIR).exists()


def test_a_missing_declared_dataset_names_its_folder_and_the_download(tmp_path):
    spec = spec_for_key("food", tmp_path)
    with pytest.raises(InputError, match=r"FoodSeg103.*FoodSeg103\.zip"):
        spec.make_reader(tmp_path).image_ids("test")


@pytest.mark.parametrize("key", BENCHMARK_KEYS)
def test_the_eight_benchmarks_are_their_declarations_with_their_old_cache_keys(key, tmp_path):
    """dataset=<key> (the config's full declaration) and the key alone (``spec_for_key``: what ``verify <key>``
    and a record's dataset key read) are one spec, found in configs/dataset/<key>.yaml, none registered in
    code; data_version stays "" so caches and records written while they were registered stay valid."""
    from bench_config import bench_config

    from rns_bench.data.datasets import DATASETS
    from rns_bench.data.declared import dataset_spec
    from rns_bench.runs.fingerprint import plain

    cfg = bench_config(tmp_path, tmp_path, f"dataset={key}")
    assert cfg.dataset.layout in ("split_file", "folder_listed")
    assert key not in DATASETS
    declared = dataset_spec(plain(cfg.dataset), tmp_path)
    for by_key in (spec_for_key(key, tmp_path), dataset_spec(key, tmp_path), dataset_spec({"key": key}, tmp_path)):
        assert by_key.data_version == declared.data_version == ""
        assert by_key.class_names() == declared.class_names()
        assert by_key.make_reader(tmp_path).layout == declared.make_reader(tmp_path).layout
        assert (by_key.support_split, by_key.test_split, by_key.expected_counts) == (
            declared.support_split,
            declared.test_split,
            declared.expected_counts,
        )
