"""A dataset declared in a config file (rns_bench.data.declared): the example of docs/datasets.md runs end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bench_config import bench_config
from doc_blocks import marked_block

from rns_bench.bench.sweep import run_sweep
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.data.declared import declared_dataset
from rns_bench.runs.records import read_records
from rns_bench.toy.world import toy_class_names

RUN = ("backbone=toy_vlm", "shots=[1]", "seeds=[100]", "test_limit=8", "batch_size=8", "methods=[zero_shot,knn_clip]")


def readme_example() -> str:
    """The declared-dataset example of docs/datasets.md (found by its marker)."""
    return marked_block("declared-dataset-example", "yaml").body


def toy_as_mmseg_folders(toy_root: Path, target: Path) -> None:
    """The toy's VOC-layout files rearranged as images/<split>/<id>.jpg, annotations/<split>/<id>.png."""
    for split in ("train", "val"):
        ids = (toy_root / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()
        for kind, source, suffix in (("images", "JPEGImages", ".jpg"), ("annotations", "SegmentationClass", ".png")):
            (target / kind / split).mkdir(parents=True, exist_ok=True)
            for image_id in ids:
                shutil.copy(toy_root / source / f"{image_id}{suffix}", target / kind / split / f"{image_id}{suffix}")
    (target / "classes.txt").write_text("\n".join(toy_class_names()) + "\n")


def test_the_readme_example_runs_and_gives_the_registered_datasets_numbers(tmp_path: Path, toy_data_root: Path):
    toy_as_mmseg_folders(toy_data_root / "toy" / "seed0", tmp_path / "data" / "MyDataset")
    (tmp_path / "conf" / "dataset").mkdir(parents=True)
    (tmp_path / "conf" / "dataset" / "my_dataset.yaml").write_text(readme_example())
    declared = bench_config(
        tmp_path / "declared",
        tmp_path / "data",
        "dataset=my_dataset",
        f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
        *RUN,
    )
    registered = bench_config(tmp_path / "registered", toy_data_root, "dataset=toy", *RUN)
    for cfg in (declared, registered):
        run_sweep(cfg)
    mine = [r.to_json() for r in read_records(tmp_path / "declared" / "results", "my_dataset", "toy_vlm", "full")]
    toy = {r.row: r.to_json() for r in read_records(tmp_path / "registered" / "results", "toy", "toy_vlm", "full")}
    assert sorted(r["row"] for r in mine) == ["knn_clip", "zero_shot"]
    for record in mine:  # same pixels, classes and order: same support split and numbers (ids differ)
        assert record["dataset"] == "my_dataset"
        assert record["support_split"]["image_ids"] == [
            f"train/{i}" for i in toy[record["row"]]["support_split"]["image_ids"]
        ]
        assert record["metrics"]["mIoU"] == toy[record["row"]]["metrics"]["mIoU"]
        assert record["metrics"]["per_class_IoU"] == toy[record["row"]]["metrics"]["per_class_IoU"]


DECLARATION = {
    "key": "mine",
    "layout": "folder_listed",
    "folder": "Mine",
    "image_dir": "images",
    "label_dir": "annotations",
    "image_suffix": ".jpg",
    "label_suffix": ".png",
    "classes": "classes.txt",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"classes": None}, "needs classes"),
        ({"layout": "coco_json"}, "layout 'coco_json' unknown; choose one of folder_listed, split_file"),
        ({"split_dir": "lists"}, r"unknown key\(s\) \['split_dir'\] for layout folder_listed"),
        ({"image_suffix": None}, "layout folder_listed needs image_suffix"),
        ({"reduce_zero_label": "false"}, r"reduce_zero_label: 'false' must be true or false \(unquoted\)"),
        ({"test_split": ["val"]}, r"test_split: \['val'\] must be a string \(e.g. test_split: val\)"),
        ({"image_suffix": 5}, r"image_suffix: 5 must be a string \(e.g. image_suffix: .png\)"),
        ({"key": "../elsewhere"}, r"key '../elsewhere' must be a plain name"),
        ({"key": "a/b"}, r"key 'a/b' must be a plain name"),
        ({"expected_counts": {"val": "many"}}, r"expected_counts: .* must map split names to image counts"),
        ({"full_support_seeds": [1, "x"]}, r"full_support_seeds: .* must be a list of whole numbers"),
    ],
)
def test_a_bad_declaration_names_the_key(tmp_path: Path, change: dict, message: str) -> None:
    declaration = {k: v for k, v in {**DECLARATION, **change}.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        declared_dataset(declaration, tmp_path)


def test_the_class_list_file_is_checked_and_changing_the_declaration_changes_its_version(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"cannot read its class list {tmp_path / 'Mine' / 'classes.txt'}"):
        declared_dataset(DECLARATION, tmp_path)
    (tmp_path / "Mine").mkdir()
    (tmp_path / "Mine" / "classes.txt").write_text("road\ncar\nroad\n")
    with pytest.raises(InputError, match=r"repeats \['road'\]"):
        declared_dataset(DECLARATION, tmp_path)
    (tmp_path / "Mine" / "classes.txt").write_text("road\ncar\n")
    spec = declared_dataset(DECLARATION, tmp_path)
    assert spec.class_names() == ["road", "car"] and (spec.support_split, spec.test_split) == ("train", "val")
    assert declared_dataset({**DECLARATION, "label_suffix": "_ids.png"}, tmp_path).data_version != spec.data_version
