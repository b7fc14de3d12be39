"""Our production readers against mmsegmentation 1.2.2's datasets on fake data in each real layout.

For every dataset key and both splits, mmseg's dataset class (as mmseg's own configs under
``configs/_base_/datasets`` build it) is pointed at the files ``tests/data/fake_datasets.py``
writes, and must agree with ``spec_for_key(key, data_root).make_reader(data_root)``:

* file order: mmseg's ``data_list`` image/label paths == ``reader.image_path(id)`` /
  ``reader.label_path(id)`` for ``reader.image_ids(split)``, position by position (support
  sampling draws by position, protocol §2);
* labels: mmseg's ``LoadAnnotations`` (its default Pillow decoding, ``reduce_zero_label`` taken
  from the dataset) == ``reader.read_label(id)`` for every image, 255 and reduced zeros included.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mmseg", reason="mmsegmentation is the optional reference (tests/reference_mmseg/README.md)")

from data.fake_datasets import BENCHMARK_KEYS, IGNORE, write_fake_dataset  # noqa: E402
from reference_mmseg.mmcv_ops_stub import import_with_mmcv_ops_stub  # noqa: E402

from rns_bench.data.declared import spec_for_key  # noqa: E402

mmseg_datasets = import_with_mmcv_ops_stub("mmseg.datasets")
LoadAnnotations = mmseg_datasets.transforms.LoadAnnotations

_VOC2012 = dict(
    root="VOCdevkit/VOC2012",
    img_path="JPEGImages",
    seg_map_path="SegmentationClass",
    ann_file="ImageSets/Segmentation/{split}.txt",
)
_CONTEXT = dict(
    root="VOCdevkit/VOC2010",
    img_path="JPEGImages",
    seg_map_path="SegmentationClassContext",
    ann_file="ImageSets/SegmentationContext/{split}.txt",
)
_COCO = dict(root="coco_stuff164k", img_path="images/{split}", seg_map_path="annotations/{split}")

# key -> (mmseg dataset class, where its files are, extra constructor arguments). Extra arguments
# only where our key has no mmseg dataset of its own: voc20 is VOC with reduce_zero_label (what
# mmseg's PascalContextDataset59 does for Context), coco_object reads the instanceTrainIds.
MMSEG_DATASET_OF = {
    "voc": ("PascalVOCDataset", _VOC2012, {}),
    "voc20": ("PascalVOCDataset", _VOC2012, {"reduce_zero_label": True}),
    "context": ("PascalContextDataset", _CONTEXT, {}),
    "context59": ("PascalContextDataset59", _CONTEXT, {}),
    "coco_object": ("COCOStuffDataset", _COCO, {"seg_map_suffix": "_instanceTrainIds.png"}),
    "coco_stuff": ("COCOStuffDataset", _COCO, {}),
    "cityscapes": (
        "CityscapesDataset",
        dict(root="cityscapes", img_path="leftImg8bit/{split}", seg_map_path="gtFine/{split}"),
        {},
    ),
    "ade": (
        "ADE20KDataset",
        dict(root="ADEChallengeData2016", img_path="images/{split}", seg_map_path="annotations/{split}"),
        {},
    ),
}
# What each key's labels must exercise for the comparison to mean something.
REDUCE_ZERO_LABEL = {"voc20", "context59", "ade"}
RAW_IGNORE_WRITTEN = {"voc", "voc20", "coco_stuff", "cityscapes"}  # 255 pixels in the files themselves


def build_mmseg_dataset(key: str, data_root: Path, split: str):
    class_name, files, extra = MMSEG_DATASET_OF[key]
    kwargs = dict(
        data_root=str(data_root / files["root"]),
        pipeline=[],
        data_prefix=dict(
            img_path=files["img_path"].format(split=split), seg_map_path=files["seg_map_path"].format(split=split)
        ),
        **extra,
    )
    if "ann_file" in files:
        kwargs["ann_file"] = files["ann_file"].format(split=split)
    return getattr(mmseg_datasets, class_name)(**kwargs)


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fake_data")
    for key in MMSEG_DATASET_OF:
        write_fake_dataset(key, root, seed=0)
    return root


def _splits(key: str) -> tuple[str, str]:
    spec = spec_for_key(key, Path("."))  # the splits: no data root needed
    return spec.support_split, spec.test_split


CASES = [(key, split) for key in MMSEG_DATASET_OF for split in _splits(key)]


def _norm(path) -> str:
    return os.path.normpath(os.fspath(path))


def test_every_benchmark_key_is_checked():
    assert sorted(BENCHMARK_KEYS) == sorted(MMSEG_DATASET_OF)


@pytest.mark.parametrize(("key", "split"), CASES)
def test_file_order_matches_mmseg(fake_root, key, split):
    reader = spec_for_key(key, fake_root).make_reader(fake_root)
    ids = reader.image_ids(split)
    dataset = build_mmseg_dataset(key, fake_root, split)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]

    assert [_norm(info["img_path"]) for info in infos] == [_norm(reader.image_path(i)) for i in ids]
    assert [_norm(info["seg_map_path"]) for info in infos] == [_norm(reader.label_path(i)) for i in ids]


@pytest.mark.parametrize(("key", "split"), CASES)
def test_labels_match_mmseg_load_annotations(fake_root, key, split):
    reader = spec_for_key(key, fake_root).make_reader(fake_root)
    ids = reader.image_ids(split)
    dataset = build_mmseg_dataset(key, fake_root, split)
    assert len(dataset) == len(ids)
    load = LoadAnnotations()  # reduce_zero_label=None: the dataset's own setting, as mmseg's configs use it
    seen_raw, seen_loaded = set(), set()
    for index, image_id in enumerate(ids):
        info = dataset.get_data_info(index)
        assert info["reduce_zero_label"] == reader.reduce_zero_label == (key in REDUCE_ZERO_LABEL)
        assert info["label_map"] is None  # no class remapping on mmseg's side
        expected = load(info)["gt_seg_map"]
        ours = reader.read_label(image_id)
        assert ours.dtype == expected.dtype == np.uint8
        assert ours.shape == expected.shape, f"{key} {image_id}"
        if not np.array_equal(ours, expected):
            where = np.argwhere(ours != expected)
            y, x = where[0]
            pytest.fail(
                f"{key} {image_id} ({reader.label_path(image_id)}): {len(where)} pixels differ, e.g. "
                f"({y}, {x}) ours {ours[y, x]} vs mmseg {expected[y, x]}"
            )
        seen_raw.update(np.unique(np.asarray(_raw_label(reader, image_id))).tolist())
        seen_loaded.update(np.unique(expected).tolist())

    # The comparison covered what it is meant to: ignore pixels and (where reduced) raw zeros.
    if key in RAW_IGNORE_WRITTEN:
        assert IGNORE in seen_raw
    if key in REDUCE_ZERO_LABEL:
        assert 0 in seen_raw and IGNORE in seen_loaded
    assert max(seen_loaded - {IGNORE}) < reader.num_classes


def _raw_label(reader, image_id: str) -> np.ndarray:
    from PIL import Image

    with Image.open(reader.label_path(image_id)) as image:
        return np.array(image)
