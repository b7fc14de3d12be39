"""Our class lists against mmsegmentation 1.2.2's ``METAINFO['classes']`` (protocol §1).

Equal modulo the documented deviations below, written out as a table (docs/datasets.md
documents the same ones): anything else that differs is a bug in rns_bench/data/classes/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("mmseg", reason="mmsegmentation is the optional reference (tests/reference_mmseg/README.md)")

from data.fake_datasets import BENCHMARK_KEYS  # noqa: E402
from reference_mmseg.mmcv_ops_stub import import_with_mmcv_ops_stub  # noqa: E402

from rns_bench.data.declared import spec_for_key  # noqa: E402

mmseg_datasets = import_with_mmcv_ops_stub("mmseg.datasets")

# key -> the mmseg dataset class whose METAINFO the list derives from.
MMSEG_CLASS_OF = {
    "voc": "PascalVOCDataset",
    "voc20": "PascalVOCDataset",
    "context": "PascalContextDataset",
    "context59": "PascalContextDataset59",
    "coco_object": "COCOStuffDataset",
    "coco_stuff": "COCOStuffDataset",
    "cityscapes": "CityscapesDataset",
    "ade": "ADE20KDataset",
}

# The documented deviations, and nothing else.
# Renamed: key -> {mmseg name: our name}. The release's own dataset classes override mmseg's
# strings (protocol §1): VOC's and Context's 'potted plant', VOC's 'dining table', COCO-Object's
# 'aeroplane'; ADE's trailing space is stripped (it tokenises identically).
RENAMED = {
    "voc": {"diningtable": "dining table", "pottedplant": "potted plant"},
    "voc20": {"diningtable": "dining table", "pottedplant": "potted plant"},
    "context": {"pottedplant": "potted plant"},
    "context59": {"pottedplant": "potted plant"},
    "coco_object": {"airplane": "aeroplane"},
    "ade": {"bed ": "bed"},
}
# Derived lists: key -> function of the (renamed) mmseg list.
DERIVED = {
    "voc20": lambda names: [n for n in names if n != "background"],  # reduce_zero_label drops class 0
    "coco_object": lambda names: ["background", *names[:80]],  # mmseg has no COCO-Object: 80 things first
}


def expected_classes(key: str) -> list[str]:
    names = list(getattr(mmseg_datasets, MMSEG_CLASS_OF[key]).METAINFO["classes"])
    renamed = RENAMED.get(key, {})
    assert set(renamed) <= set(names), f"documented renames {set(renamed) - set(names)} not in mmseg's list"
    names = [renamed.get(name, name) for name in names]
    return DERIVED.get(key, list)(names)


@pytest.mark.parametrize("key", list(MMSEG_CLASS_OF))
def test_class_list_matches_mmseg_up_to_documented_deviations(key):
    ours = spec_for_key(key, Path(".")).class_names()  # shipped class lists: no data root needed
    expected = expected_classes(key)
    diff = [(i, a, b) for i, (a, b) in enumerate(zip(ours, expected, strict=False)) if a != b]
    assert len(ours) == len(expected) and not diff, (
        f"{key}: {len(ours)} classes vs {len(expected)} expected from mmseg; first differences (index, ours, "
        f"expected) {diff[:5]}"
    )


def test_every_benchmark_key_is_checked():
    assert sorted(BENCHMARK_KEYS) == sorted(MMSEG_CLASS_OF)


def test_coco_object_things_are_mmseg_things():
    """The 80 names kept for COCO-Object are mmseg's COCO-Stuff things (ids 0..79), then stuff starts."""
    stuff = mmseg_datasets.COCOStuffDataset.METAINFO["classes"]
    assert stuff[79] == "toothbrush" and stuff[80] == "banner"
