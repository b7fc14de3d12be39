"""Hugging Face ``datasets`` as a source (rns_bench.data.readers.hf_layout): datasets built with ``datasets``
itself, saved to disk and as parquet, against the same images in a folder layout."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest
import yaml
from bench_config import bench_config
from data.fake_datasets import write_fake_dataset

from rns_bench.bench.sweep import run_sweep
from rns_bench.core.errors import InputError
from rns_bench.data.declared import declared_dataset, spec_for_key
from rns_bench.runs.records import read_records

RUN = ("backbone=random_vlm", "shots=[1]", "seeds=[100,18]", "methods=[zero_shot,knn_clip,rns]")


def food_as_hf(data_root: Path) -> datasets.DatasetDict:
    """The fake FoodSeg103's files as a DatasetDict: image / label as datasets.Image() cells holding the
    files' bytes, ``name`` = the file stem, rows in the folder layout's listing order."""
    fake = write_fake_dataset("food", data_root)
    splits = {}
    for split, ids in fake.split_ids.items():
        rows = {
            "image": [{"bytes": fake.image_paths[i].read_bytes(), "path": None} for i in ids],
            "label": [{"bytes": fake.label_paths[i].read_bytes(), "path": None} for i in ids],
            "name": [i.split("/", 1)[1] for i in ids],
        }
        features = datasets.Features(
            {"image": datasets.Image(), "label": datasets.Image(), "name": datasets.Value("string")}
        )
        splits[split] = datasets.Dataset.from_dict(rows, features=features)
    return datasets.DatasetDict(splits)


def _declare(conf: Path, key: str, block: dict) -> str:
    (conf / "dataset").mkdir(parents=True, exist_ok=True)
    (conf / "dataset" / f"{key}.yaml").write_text("# @package _global_\n" + yaml.safe_dump({"dataset": block}))
    return f"hydra.searchpath=[file://{conf}]"


HF_COMMON = {
    "layout": "huggingface",
    "classes": "package:food.txt",
    "support_split": "train",
    "test_split": "test",
    "image_column": "image",
    "label_column": "label",
    "id_column": "name",
}


def test_saved_and_parquet_datasets_give_the_folder_layouts_numbers(tmp_path):
    data = tmp_path / "data"
    dataset_dict = food_as_hf(data)
    dataset_dict.save_to_disk(str(data / "food_hf_disk"))
    for split, dataset in dataset_dict.items():
        (data / "food_parquet").mkdir(parents=True, exist_ok=True)
        dataset.to_parquet(str(data / "food_parquet" / f"{split}-00000-of-00001.parquet"))
    declarations = {
        "food_disk": {**HF_COMMON, "key": "food_disk", "source": "disk", "path": "food_hf_disk"},
        "food_parquet": {
            **HF_COMMON,
            "key": "food_parquet",
            "source": "parquet",
            "path": "food_parquet",
            "data_files": {"train": "train-*.parquet", "test": "test-*.parquet"},
        },
    }
    run_sweep(bench_config(tmp_path / "folder", data, "dataset=food", *RUN))
    folder = {
        (r.row, r.seed): r.to_json()
        for r in read_records(tmp_path / "folder" / "results", "food", "random_vlm", "full")
    }
    assert len(folder) == 6
    for key, block in declarations.items():
        searchpath = _declare(tmp_path / "conf", key, block)
        run_sweep(bench_config(tmp_path / key, data, f"dataset={key}", searchpath, *RUN))
        records = [r.to_json() for r in read_records(tmp_path / key / "results", key, "random_vlm", "full")]
        assert len(records) == 6
        for record in records:
            same = folder[record["row"], record["seed"]]
            assert record["support_split"]["image_ids"] == same["support_split"]["image_ids"]
            assert record["metrics"]["mIoU"] == same["metrics"]["mIoU"], (key, record["row"])
            assert record["metrics"]["per_class_IoU"] == same["metrics"]["per_class_IoU"]


def test_reader_rows_labels_and_row_number_ids(tmp_path):
    data = tmp_path / "data"
    food_as_hf(data).save_to_disk(str(data / "hf"))
    block = {**HF_COMMON, "key": "food_rows", "source": "disk", "path": "hf", "id_column": None}
    spec = declared_dataset(block, data)
    reader = spec.make_reader(data)
    folder = spec_for_key("food", data).make_reader(data)
    ids = reader.image_ids("test")
    assert ids == [f"test/{i}" for i in range(len(folder.image_ids("test")))]  # row numbers, in row order
    for row, folder_id in zip(ids, folder.image_ids("test"), strict=True):
        np.testing.assert_array_equal(reader.read_label(row), folder.read_label(folder_id))
        np.testing.assert_array_equal(reader.read_image(row), folder.read_image(folder_id))


def test_class_names_from_a_classlabel_feature(tmp_path):
    names = ["sky", "tree", "road"]
    label = np.zeros((8, 8), np.uint8)
    label[4:] = 2
    from io import BytesIO

    from PIL import Image

    def png(array, mode):
        buffer = BytesIO()
        Image.fromarray(array, mode=mode).save(buffer, format="PNG")
        return {"bytes": buffer.getvalue(), "path": None}

    features = datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.Image(),
            "objects": datasets.Sequence(datasets.ClassLabel(names=names)),
        }
    )
    rows = {"image": [png(np.full((8, 8, 3), 90, np.uint8), "RGB")], "label": [png(label, "L")], "objects": [[0, 2]]}
    split = datasets.Dataset.from_dict(rows, features=features)
    datasets.DatasetDict({"train": split, "val": split}).save_to_disk(str(tmp_path / "hf"))
    spec = declared_dataset(
        {"key": "tiny", "layout": "huggingface", "source": "disk", "path": "hf", "classes": "feature:objects"}, tmp_path
    )
    assert spec.class_names() == names
    assert spec.make_reader(tmp_path).read_label("val/0")[5, 0] == 2
    with pytest.raises(InputError, match=r"column 'image' of .* is Image, not a ClassLabel"):
        declared_dataset(
            {"key": "tiny", "layout": "huggingface", "source": "disk", "path": "hf", "classes": "feature:image"},
            tmp_path,
        )


def test_bad_sources_fail_in_one_line(tmp_path, monkeypatch):
    data = tmp_path / "data"
    food_as_hf(data).save_to_disk(str(data / "hf"))
    base = {**HF_COMMON, "key": "food_hf", "source": "disk", "path": "hf"}
    with pytest.raises(InputError, match=r"no split 'validation'; its splits: train, test"):
        declared_dataset({**base, "test_split": "validation"}, data).make_reader(data).image_ids("validation")
    with pytest.raises(InputError, match=r"no column 'annotation'; columns: image, label, name"):
        declared_dataset({**base, "label_column": "annotation"}, data).make_reader(data).image_ids("train")
    with pytest.raises(InputError, match=r"dataset folder not found: expected .*elsewhere"):
        declared_dataset({**base, "path": "elsewhere"}, data).make_reader(data).image_ids("train")
    # The Hub, offline, with an empty cache: one line saying how to get a local copy, at once.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = declared_dataset({**base, "source": "hub", "path": "someone/segmentation-set"}, data)
    with pytest.raises(InputError, match=r"'someone/segmentation-set' is needed but offline .*save_to_disk"):
        hub.make_reader(data).image_ids("train")


def test_columns_that_are_not_images_and_an_empty_split_are_one_line_before_any_work(tmp_path):
    data = tmp_path / "data"
    hf = food_as_hf(data)
    # a label column of class ids (an image-classification dataset), and one of nested lists
    hf["train"] = hf["train"].add_column("class_id", [0] * len(hf["train"]))
    hf["train"] = hf["train"].add_column("points", [[[1, 2]]] * len(hf["train"]))
    hf.save_to_disk(str(data / "hf"))
    base = {**HF_COMMON, "key": "food_hf", "source": "disk", "path": "hf"}
    for column in ("class_id", "points"):
        with pytest.raises(InputError, match=rf"column '{column}' of split 'train' .* holds .*not images"):
            declared_dataset({**base, "label_column": column}, data).make_reader(data).image_ids("train")
    # parquet with a split whose files hold no rows: datasets' "Instruction ... corresponds to no data"
    (data / "pq").mkdir()
    hf["train"].select_columns(["image", "label", "name"]).to_parquet(str(data / "pq" / "train.parquet"))
    hf["test"].select(range(0)).select_columns(["image", "label", "name"]).to_parquet(str(data / "pq" / "test.parquet"))
    parquet = {
        **base,
        "source": "parquet",
        "path": "pq",
        "data_files": {"train": "train.parquet", "test": "test.parquet"},
    }
    with pytest.raises(InputError, match=r"split 'test' of the parquet dataset .* has no rows"):
        declared_dataset(parquet, data).make_reader(data).image_ids("test")
