"""COCO-Stuff train ids and COCO-Object ids from tiny raw COCO-Stuff maps (protocol §1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data.prepare.fake_raw import files_under, read_png, write_raw_png
from PIL import Image

from rns_bench.core.errors import InputError
from rns_bench.data.prepare import get_preparer
from rns_bench.data.prepare.coco_object import convert_coco_object, object_train_id_lut
from rns_bench.data.prepare.coco_stuff import convert_coco_stuff, stuff_train_id_lut

# Raw value (COCO id − 1) → COCO-Stuff train id, checked by hand against COCO's category list:
# person 0 → 0, the first id after the unused 11 (COCO 12, "street sign") is 12 → 11,
# toothbrush (COCO 90, raw 89) → 79, the first stuff class banner (COCO 92, raw 91) → 80,
# wood (COCO 182, raw 181) → 170, unlabelled 255 stays 255.
STUFF_CASES = {0: 0, 10: 10, 12: 11, 26: 24, 30: 26, 89: 79, 91: 80, 181: 170, 255: 255}
# COCO-Object: things shift by one, everything else is background 0 (no ignore pixels).
OBJECT_CASES = {0: 1, 12: 12, 89: 80, 91: 0, 181: 0, 255: 0}
RAW = np.array([[0, 10, 12, 26, 30], [89, 91, 181, 255, 255]], dtype=np.uint8)


@pytest.fixture
def annotations(tmp_path: Path) -> Path:
    root = tmp_path / "coco_stuff164k" / "annotations"
    write_raw_png(root / "train2017" / "000000000009.png", RAW)
    write_raw_png(root / "train2017" / "000000000025.png", np.full((3, 4), 91, np.uint8))
    write_raw_png(root / "val2017" / "000000000139.png", RAW[::-1])
    return root


def test_lookup_tables_hand_checked() -> None:
    stuff, objects = stuff_train_id_lut(), object_train_id_lut()
    assert {raw: int(stuff[raw]) for raw in STUFF_CASES} == STUFF_CASES
    assert {raw: int(objects[raw]) for raw in OBJECT_CASES} == OBJECT_CASES
    valid = stuff >= 0
    assert valid.sum() == 172 and sorted(set(stuff[valid].tolist())) == [*range(171), 255]
    assert sorted(set(objects[objects >= 0].tolist())) == list(range(81))
    assert (stuff[[11, 25, 90, 182, 254]] < 0).all()  # never-annotated COCO ids and values above 181


def test_coco_stuff_writes_label_train_ids_beside_the_raw_maps(annotations: Path) -> None:
    report = convert_coco_stuff(annotations)
    assert (report.written, report.skipped) == (3, 0)
    out = read_png(annotations / "train2017" / "000000000009_labelTrainIds.png")
    assert out.tolist() == [[0, 10, 11, 24, 26], [79, 80, 170, 255, 255]]
    assert (read_png(annotations / "train2017" / "000000000025_labelTrainIds.png") == 80).all()
    assert read_png(annotations / "val2017" / "000000000139_labelTrainIds.png").tolist() == out[::-1].tolist()


def test_coco_object_maps_things_to_1_80_and_the_rest_to_background(annotations: Path) -> None:
    convert_coco_object(annotations)
    out = read_png(annotations / "train2017" / "000000000009_instanceTrainIds.png")
    assert out.tolist() == [[1, 11, 12, 25, 27], [80, 0, 0, 0, 0]]
    assert (read_png(annotations / "train2017" / "000000000025_instanceTrainIds.png") == 0).all()


def test_a_second_run_writes_nothing_and_converted_maps_are_not_inputs(annotations: Path) -> None:
    convert_coco_stuff(annotations)
    convert_coco_object(annotations)  # must not take the *_labelTrainIds.png just written as raw maps
    before = files_under(annotations)
    assert sum(name.endswith("TrainIds.png") for name in before) == 6
    assert (convert_coco_stuff(annotations).written, convert_coco_object(annotations).written) == (0, 0)
    assert files_under(annotations) == before


class Crash(Exception):
    """Stands for the process dying in the middle of writing a file."""


def test_a_crash_mid_write_leaves_no_output_and_the_rerun_finishes(annotations: Path, monkeypatch) -> None:
    real_save, calls = Image.Image.save, []

    def save_then_crash_on_second_file(image, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) == 2:
            Path(fp).write_bytes(b"\x89PNG half a file")
            raise Crash
        return real_save(image, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save_then_crash_on_second_file)
    with pytest.raises(Crash):
        convert_coco_stuff(annotations)
    outputs = sorted(p.name for p in annotations.rglob("*") if p.is_file() and "TrainIds" in p.name)
    assert outputs == ["000000000009_labelTrainIds.png"]  # the finished one only: no half file, no temp
    assert not [p for p in annotations.rglob("*") if p.name.startswith(".")]
    monkeypatch.undo()
    assert convert_coco_stuff(annotations).written == 2


def test_out_dir_and_the_registered_step(annotations: Path, tmp_path: Path) -> None:
    data_root = tmp_path / "elsewhere"
    report = get_preparer("coco_object").run(data_root, source=annotations)
    assert report.written == 3
    assert (data_root / "coco_stuff164k/annotations/val2017/000000000139_instanceTrainIds.png").is_file()


def test_errors_name_the_file_and_the_fix(annotations: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"coco_stuff164k/missing\. Download stuffthingmaps_trainval2017\.zip"):
        convert_coco_stuff(tmp_path / "coco_stuff164k" / "missing")
    write_raw_png(annotations / "val2017" / "000000000285.png", np.array([[11, 0]], np.uint8))
    with pytest.raises(InputError, match=r"000000000285\.png holds values \[11\]"):
        convert_coco_stuff(annotations)
    (tmp_path / "empty" / "train2017").mkdir(parents=True)
    (tmp_path / "empty" / "val2017").mkdir()
    with pytest.raises(InputError, match="no raw label maps"):
        convert_coco_object(tmp_path / "empty")


def test_worker_processes_give_the_same_files(annotations: Path, tmp_path: Path) -> None:
    convert_coco_object(annotations, tmp_path / "one")
    assert convert_coco_object(annotations, tmp_path / "two", workers=2).written == 3
    for one in (tmp_path / "one").rglob("*.png"):
        assert (read_png(one) == read_png(tmp_path / "two" / one.relative_to(tmp_path / "one"))).all()
