"""Cityscapes train-id maps drawn by cityscapesscripts from tiny gtFine polygon files (protocol §1)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from data.prepare.fake_raw import files_under, read_png, write_polygons

from rns_bench.core.errors import InputError
from rns_bench.data.prepare import get_preparer
from rns_bench.data.prepare.cityscapes import convert_cityscapes

needs_cityscapesscripts = pytest.mark.skipif(
    importlib.util.find_spec("cityscapesscripts") is None,
    reason="cityscapesscripts is not installed (pip install cityscapesscripts)",
)


def _rect(x0: int, y0: int, x1: int, y1: int) -> list[list[int]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


@pytest.fixture
def gt_fine(tmp_path: Path) -> Path:
    gt = tmp_path / "cityscapes" / "gtFine"
    # labels.py: road id 7 → train id 0, car 26 → 13, sky 23 → 10; license plate (id −1) is never
    # drawn; "cargroup" is drawn as car; a deleted polygon is skipped; the rest is unlabeled → 255.
    write_polygons(
        gt / "train/aachen/aachen_000000_000019_gtFine_polygons.json",
        6,
        8,
        [
            {"label": "sky", "polygon": _rect(0, 0, 7, 1)},
            {"label": "road", "polygon": _rect(0, 4, 7, 5)},
            {"label": "cargroup", "polygon": _rect(1, 2, 2, 3)},
            {"label": "license plate", "polygon": _rect(1, 2, 1, 2)},
            {"label": "person", "polygon": _rect(5, 2, 6, 3), "deleted": 1},
        ],
    )
    write_polygons(
        gt / "val/frankfurt/frankfurt_000000_000294_gtFine_polygons.json",
        6,
        8,
        [{"label": "road", "polygon": _rect(0, 0, 7, 5)}],
    )
    return gt


@needs_cityscapesscripts
def test_train_ids_follow_the_official_label_table(gt_fine: Path) -> None:
    report = convert_cityscapes(gt_fine)
    assert (report.written, report.skipped) == (2, 0)
    label = read_png(gt_fine / "train/aachen/aachen_000000_000019_gtFine_labelTrainIds.png")
    expected = np.full((6, 8), 255)
    expected[0:2] = 10  # sky
    expected[4:6] = 0  # road
    expected[2:4, 1:3] = 13  # cargroup → car; the licence plate inside it left untouched
    assert label.tolist() == expected.tolist()
    assert (read_png(gt_fine / "val/frankfurt/frankfurt_000000_000294_gtFine_labelTrainIds.png") == 0).all()


@needs_cityscapesscripts
def test_a_second_run_writes_nothing(gt_fine: Path) -> None:
    convert_cityscapes(gt_fine)
    before = files_under(gt_fine)
    assert convert_cityscapes(gt_fine).written == 0
    assert files_under(gt_fine) == before


@needs_cityscapesscripts
def test_registered_step_and_errors_naming_the_file(gt_fine: Path, tmp_path: Path) -> None:
    assert get_preparer("cityscapes").run(gt_fine.parents[1]).written == 2
    write_polygons(
        gt_fine / "val/lindau/lindau_000000_000019_gtFine_polygons.json",
        2,
        2,
        [{"label": "unicorn", "polygon": _rect(0, 0, 1, 1)}],
    )
    with pytest.raises(InputError, match=r"lindau_000000_000019_gtFine_polygons\.json use the label 'unicorn'"):
        convert_cityscapes(gt_fine)
    with pytest.raises(InputError, match=r"expected the folder .*nowhere/gtFine\. Download gtFine_trainvaltest"):
        convert_cityscapes(tmp_path / "nowhere" / "gtFine")


def test_a_missing_cityscapesscripts_says_how_to_install_it(gt_fine: Path, monkeypatch) -> None:
    for name in [m for m in sys.modules if m.startswith("cityscapesscripts.")] + ["cityscapesscripts"]:
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules makes an import fail
    with pytest.raises(InputError, match=r"pip install cityscapesscripts"):
        convert_cityscapes(gt_fine)
