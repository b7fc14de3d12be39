"""PASCAL Context-60 labels and split files from a tiny PASCAL-in-Detail JSON (protocol §1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data.prepare.fake_raw import encode_rle, files_under, read_png, write_detail_json

from rns_bench.core.errors import InputError
from rns_bench.data.prepare import get_preparer
from rns_bench.data.prepare.context import CONTEXT60_DETAIL_IDS, context60_index, convert_context

# Detail category id → Context-60 index (rank among the 60 ids): background 0 → 0,
# aeroplane 2 → 1, bag 9 → 2, wood 458 → 59 (mmseg's class order).
AEROPLANE, BAG, WOOD = 2, 9, 458


def _box(h: int, w: int, rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[rows, cols] = True
    return mask


def _image(image_id: int, name: str, phase: str, h: int = 4, w: int = 5) -> dict:
    return {"image_id": image_id, "file_name": f"{name}.jpg", "height": h, "width": w, "phase": phase}


def _annotation(ann_id: int, image_id: int, category: int, mask: np.ndarray, compressed: bool = True) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": category, "segmentation": encode_rle(mask, compressed)}


@pytest.fixture
def detail_json(tmp_path: Path) -> Path:
    images = [
        _image(2008000003, "2008_000003", "train"),
        _image(2008000002, "2008_000002", "train"),
        _image(2008000007, "2008_000007", "val"),
        _image(1, "unused", "test"),
    ]
    annotations = [
        _annotation(1, 2008000003, AEROPLANE, _box(4, 5, slice(0, 2), slice(0, 5))),  # top two rows
        _annotation(2, 2008000003, BAG, _box(4, 5, slice(1, 3), slice(1, 3)), compressed=False),  # painted over
        _annotation(3, 2008000007, WOOD, _box(4, 5, slice(3, 4), slice(0, 5))),
    ]
    return write_detail_json(tmp_path / "VOCdevkit/VOC2010/trainval_merged.json", images, annotations)


def test_class_indices_are_ranks_among_the_60_detail_ids() -> None:
    assert len(CONTEXT60_DETAIL_IDS) == 60 and list(CONTEXT60_DETAIL_IDS) == sorted(CONTEXT60_DETAIL_IDS)
    ids = np.array([[0, AEROPLANE, BAG, WOOD]])
    assert context60_index(ids, "x").tolist() == [[0, 1, 2, 59]]


def test_labels_paint_annotations_in_order_and_split_files_are_sorted(detail_json: Path) -> None:
    voc2010 = detail_json.parent
    report = convert_context(detail_json, voc2010)
    assert report.written == 3 + 2  # three label maps, two split files
    label = read_png(voc2010 / "SegmentationClassContext/2008_000003.png")
    assert label.tolist() == [
        [1, 1, 1, 1, 1],
        [1, 2, 2, 1, 1],  # the later bag annotation wins where they overlap
        [0, 2, 2, 0, 0],
        [0, 0, 0, 0, 0],
    ]
    assert (read_png(voc2010 / "SegmentationClassContext/2008_000002.png") == 0).all()  # no annotation
    assert read_png(voc2010 / "SegmentationClassContext/2008_000007.png")[3].tolist() == [59] * 5
    splits = voc2010 / "ImageSets/SegmentationContext"
    assert (splits / "train.txt").read_text() == "2008_000002\n2008_000003\n"
    assert (splits / "val.txt").read_text() == "2008_000007\n"
    assert not (voc2010 / "SegmentationClassContext/unused.png").exists()  # test phase is not converted


def test_a_second_run_writes_nothing_and_needs_no_json(detail_json: Path) -> None:
    voc2010 = detail_json.parent
    convert_context(detail_json, voc2010)
    before = files_under(voc2010)
    detail_json.unlink()  # everything is prepared: the slow JSON is not even opened
    report = convert_context(detail_json, voc2010)
    assert (report.written, report.skipped) == (0, 3)
    assert files_under(voc2010) == {k: v for k, v in before.items() if not k.endswith(".json")}


def test_an_interrupted_run_resumes_the_missing_labels(detail_json: Path) -> None:
    voc2010 = detail_json.parent
    convert_context(detail_json, voc2010)
    (voc2010 / "SegmentationClassContext/2008_000007.png").unlink()
    (voc2010 / "ImageSets/SegmentationContext/val.txt").unlink()
    report = convert_context(detail_json, voc2010)
    assert (report.written, report.skipped) == (2, 3)  # one label + val.txt; two labels + train.txt kept


def test_registered_step_reads_the_json_from_its_usual_place(detail_json: Path) -> None:
    data_root = detail_json.parents[2]
    for key in ("context", "context59"):  # one set of files serves both
        get_preparer(key).run(data_root)
    assert (data_root / "VOCdevkit/VOC2010/SegmentationClassContext/2008_000003.png").is_file()


def test_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.json\. Download trainval_merged\.json"):
        convert_context(tmp_path / "missing.json", tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [')
    with pytest.raises(InputError, match="broken.json is not valid JSON"):
        convert_context(broken, tmp_path)
    other = write_detail_json(
        tmp_path / "other.json",
        [_image(5, "2008_000005", "train"), _image(6, "v", "val")],
        [_annotation(1, 5, 431, _box(4, 5, slice(0, 1), slice(0, 1)))],
    )
    with pytest.raises(InputError, match=r"2008_000005 has Detail category ids \[431\]"):
        convert_context(other, tmp_path)
    no_name = write_detail_json(tmp_path / "no_name.json", [{"image_id": 5, "phase": "train"}], [])
    with pytest.raises(InputError, match=r"an 'images' entry is unusable \(KeyError\('file_name'\)\)"):
        convert_context(no_name, tmp_path)
    wrong_size = write_detail_json(
        tmp_path / "size.json",
        [_image(5, "2008_000005", "train", h=3)],
        [_annotation(1, 5, BAG, _box(4, 5, slice(0, 1), slice(0, 1)))],
    )
    with pytest.raises(InputError, match="annotation mask is 4x5 but the image is 3x5"):
        convert_context(wrong_size, tmp_path / "size")
