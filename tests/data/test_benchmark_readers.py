"""The registered benchmark readers on fake datasets in each real on-disk layout (protocol §1).

Nothing is mocked: ``fake_datasets`` writes real files (palette/greyscale PNGs, JPEG/PNG
images, split files or split folders) and the production readers from the registry read them.
Expectations come from the protocol table below, not from the registration under test.
"""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from data.fake_datasets import SHOTS_SUPPORTED, FakeDataset, write_fake_dataset

from rns_bench.core.errors import InputError
from rns_bench.data.datasets import DatasetSpec
from rns_bench.data.declared import spec_for_key
from rns_bench.data.readers.listed_layout import list_images_mmseg_order
from rns_bench.data.sampling import class_presence, sample_support
from rns_bench.data.verify import DatasetVerificationError, verify_dataset
from rns_bench.ops.resize import rescale_size, resize_label


class Row(NamedTuple):
    """One row of the protocol §1 table."""

    num_classes: int
    reduce_zero_label: bool
    folder: str
    support_split: str
    test_split: str
    counts: tuple[int, int]


PROTOCOL = {
    "voc": Row(21, False, "VOCdevkit/VOC2012", "train", "val", (1464, 1449)),
    "voc20": Row(20, True, "VOCdevkit/VOC2012", "train", "val", (1464, 1449)),
    "context": Row(60, False, "VOCdevkit/VOC2010", "train", "val", (4998, 5105)),
    "context59": Row(59, True, "VOCdevkit/VOC2010", "train", "val", (4998, 5105)),
    "coco_object": Row(81, False, "coco_stuff164k", "train2017", "val2017", (118287, 5000)),
    "coco_stuff": Row(171, False, "coco_stuff164k", "train2017", "val2017", (118287, 5000)),
    "cityscapes": Row(19, False, "cityscapes", "train", "val", (2975, 500)),
    "ade": Row(150, True, "ADEChallengeData2016", "training", "validation", (20210, 2000)),
}
KEYS = list(PROTOCOL)
SPLIT_FILE_KEYS = ["voc", "voc20", "context", "context59"]
LISTED_KEYS = ["coco_object", "coco_stuff", "cityscapes", "ade"]


def _mmseg_reduce_zero_label(raw: np.ndarray) -> np.ndarray:
    return np.where((raw == 0) | (raw == 255), 255, raw.astype(np.int16) - 1).astype(np.uint8)


def _expected_label(key: str, raw: np.ndarray) -> np.ndarray:
    return _mmseg_reduce_zero_label(raw) if PROTOCOL[key].reduce_zero_label else raw


def _names(key: str) -> list[str]:
    return spec_for_key(key, Path(".")).class_names()  # shipped class lists: no data root needed


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FakeDataset]:
    """Every fake dataset under one data root, written once and only read."""
    root = tmp_path_factory.mktemp("data")
    return {key: write_fake_dataset(key, root, seed=3) for key in KEYS}


def _fresh(key: str, tmp_path: Path) -> tuple[DatasetSpec, FakeDataset]:
    """A fake of ``key`` of its own, for tests that break files."""
    return spec_for_key(key, tmp_path / "data"), write_fake_dataset(key, tmp_path / "data", seed=5)


# -- class lists and registration -----------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_class_list_has_documented_length_no_duplicates_no_whitespace(key: str) -> None:
    names = _names(key)
    assert len(names) == PROTOCOL[key].num_classes
    assert len(set(names)) == len(names)
    assert all(name and name == name.strip() for name in names)
    text = resources.files("rns_bench.data").joinpath("classes", spec_for_key(key, Path(".")).class_file).read_text()
    assert text.splitlines() == names  # the file holds exactly the names, one a line


def test_class_lists_use_the_protocol_names() -> None:
    voc = _names("voc")
    assert voc[0] == "background"
    assert {"aeroplane", "dining table", "motorbike", "potted plant", "tvmonitor"} <= set(voc)
    assert _names("voc20") == voc[1:]
    context = _names("context")
    assert context[0] == "background"
    assert _names("context59") == context[1:] == sorted(context[1:])  # §1: alphabetical order
    assert "potted plant" in context and "pottedplant" not in context  # the release's string, not mmseg 1.x's
    coco_object, coco_stuff = _names("coco_object"), _names("coco_stuff")
    assert coco_object[5] == "aeroplane" and coco_stuff[4] == "airplane"  # the release renames it for Object only
    assert coco_object == ["background", *coco_stuff[:4], "aeroplane", *coco_stuff[5:80]]
    assert coco_object[-1] == "toothbrush"
    assert _names("ade")[7] == "bed"  # mmseg's 'bed ' with its trailing space stripped
    assert _names("cityscapes")[:3] == ["road", "sidewalk", "building"]


@pytest.mark.parametrize("key", KEYS)
def test_spec_follows_the_protocol_table(key: str) -> None:
    spec, row = spec_for_key(key, Path(".")), PROTOCOL[key]
    assert (spec.support_split, spec.test_split) == (row.support_split, row.test_split)
    assert spec.expected_counts == dict(zip((row.support_split, row.test_split), row.counts, strict=True))
    reader = spec.make_reader(Path("/no/such/root"))  # readers are lazy: nothing is read yet
    assert (reader.num_classes, reader.reduce_zero_label) == (row.num_classes, row.reduce_zero_label)
    assert reader.root == Path("/no/such/root") / row.folder


# -- ids, order, labels, images -----------------------------------------------------------------------


def test_listing_follows_mmseg_rules(tmp_path: Path) -> None:
    for name in (
        "a.jpg",
        "a-b.jpg",
        "B.jpg",
        "sub/c.jpg",
        "sub.jpg",
        ".hidden.jpg",
        ".cache/d.jpg",
        "e.png",
        "f.JPG",
        "g.jpg.png",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    # Sorted with the suffix: 'a-b.jpg' < 'a.jpg' ('-' < '.'), though the stem 'a' < 'a-b'; hidden
    # files are skipped but hidden folders are descended into, as mmengine's listing does.
    assert list_images_mmseg_order(tmp_path, ".jpg") == [
        ".cache/d.jpg",
        "B.jpg",
        "a-b.jpg",
        "a.jpg",
        "sub.jpg",
        "sub/c.jpg",
    ]


@pytest.mark.parametrize("key", KEYS)
def test_image_ids_come_in_file_or_mmseg_order(fakes: dict[str, FakeDataset], key: str) -> None:
    spec, fake = spec_for_key(key, fakes[key].data_root), fakes[key]
    reader = spec.make_reader(fake.data_root)
    for split in (spec.support_split, spec.test_split):
        assert reader.image_ids(split) == fake.split_ids[split]
    if key in SPLIT_FILE_KEYS:  # the split file is not sorted: its order is kept
        assert reader.image_ids("train") != sorted(reader.image_ids("train"))


def test_directory_ids_carry_the_split_and_the_sub_folder(fakes: dict[str, FakeDataset]) -> None:
    root = fakes["cityscapes"].data_root
    ids = spec_for_key("cityscapes", root).make_reader(root).image_ids("train")
    assert all(re.fullmatch(r"train/(aachen|zurich)/\1_\d{6}_\d{6}", i) for i in ids)
    assert [i.split("/")[1] for i in ids] == ["aachen"] * 3 + ["zurich"] * 3  # written interleaved


@pytest.mark.parametrize("key", KEYS)
def test_labels_and_images_read_as_written(fakes: dict[str, FakeDataset], key: str) -> None:
    spec, fake = spec_for_key(key, fakes[key].data_root), fakes[key]
    reader = spec.make_reader(fake.data_root)
    for image_id in fake.split_ids[spec.support_split] + fake.split_ids[spec.test_split]:
        label, image = reader.read_label(image_id), reader.read_image(image_id)
        raw = fake.raw_labels[image_id]
        assert label.dtype == np.uint8 and image.dtype == np.uint8
        assert image.shape == (*raw.shape, 3)
        np.testing.assert_array_equal(label, _expected_label(key, raw))
        assert ((label < PROTOCOL[key].num_classes) | (label == 255)).all()


def test_ignore_pixels_follow_the_protocol(fakes: dict[str, FakeDataset]) -> None:
    def labels(key: str) -> list[tuple[np.ndarray, np.ndarray]]:
        reader = spec_for_key(key, fakes[key].data_root).make_reader(fakes[key].data_root)
        return [(fakes[key].raw_labels[i], reader.read_label(i)) for i in fakes[key].raw_labels]

    assert all((label == 255).any() and (label == 0).any() for _, label in labels("voc"))  # boundaries, background
    for raw, label in labels("voc20") + labels("context59") + labels("ade"):  # background / other → ignored
        np.testing.assert_array_equal(label == 255, (raw == 0) | (raw == 255))
    assert not any((label == 255).any() for _, label in labels("coco_object"))  # no ignore pixels
    assert any((label == 255).any() for _, label in labels("coco_stuff"))  # unlabelled


@pytest.mark.parametrize("short_side", [448, None], ids=["clip-resize", "original-size"])
@pytest.mark.parametrize("key", KEYS)
def test_every_class_has_support_candidates(fakes: dict[str, FakeDataset], key: str, short_side: int | None) -> None:
    spec, fake = spec_for_key(key, fakes[key].data_root), fakes[key]
    reader, num_classes = spec.make_reader(fake.data_root), PROTOCOL[key].num_classes

    def presence(split: str) -> np.ndarray:  # §2.2: on the support-resized label maps
        rows = []
        for image_id in reader.image_ids(split):
            label = reader.read_label(image_id)
            rows.append(class_presence(resize_label(label, rescale_size(*label.shape, short_side)), num_classes))
        return np.stack(rows)

    train, test = presence(spec.support_split), presence(spec.test_split)
    assert (train.sum(axis=0) >= SHOTS_SUPPORTED).all()
    for shots in (1, SHOTS_SUPPORTED, 5):  # every B runs; each class is in the support set
        selected = sample_support(train, shots, seed=100, class_names=spec.class_names())
        assert train[selected].any(axis=0).all()
    train_only = fake.train_only_value - int(PROTOCOL[key].reduce_zero_label)
    assert train[:, train_only].any() and not test[:, train_only].any()


# -- errors ----------------------------------------------------------------------------------------------


# The fix each missing dataset names: VOC and ADE20K labels ship ready, the rest need a preparation step.
FIXES = {
    "voc": "download VOCtrainval_11-May-2012.tar",
    "voc20": "download VOCtrainval_11-May-2012.tar",
    "ade": "download ADEChallengeData2016.zip",
    **{
        key: f"`python -m rns_bench.data prepare {key}`"
        for key in ("context", "context59", "coco_object", "coco_stuff", "cityscapes")
    },
}


@pytest.mark.parametrize("key", KEYS)
def test_missing_root_names_the_folder_and_the_fix(tmp_path: Path, key: str) -> None:
    reader = spec_for_key(key, tmp_path).make_reader(tmp_path)
    expected = rf"dataset folder not found: expected {re.escape(str(tmp_path / PROTOCOL[key].folder))}; .*"
    for call in (lambda: reader.image_ids(PROTOCOL[key].support_split), lambda: reader.read_image("x")):
        with pytest.raises(InputError, match=expected + re.escape(FIXES[key])):
            call()


@pytest.mark.parametrize(
    ("key", "split_dir"), [("voc", "ImageSets/Segmentation"), ("context59", "ImageSets/SegmentationContext")]
)
def test_missing_split_file_names_it(tmp_path: Path, key: str, split_dir: str) -> None:
    spec, fake = _fresh(key, tmp_path)
    split_file = fake.data_root / PROTOCOL[key].folder / split_dir / "val.txt"
    split_file.unlink()
    with pytest.raises(InputError, match=rf"split file not found: {re.escape(str(split_file))}"):
        spec.make_reader(fake.data_root).image_ids("val")


@pytest.mark.parametrize("key", LISTED_KEYS)
def test_missing_split_folder_names_it_and_the_valid_splits(tmp_path: Path, key: str) -> None:
    spec, fake = _fresh(key, tmp_path)
    folder = fake.image_paths[fake.split_ids[spec.test_split][0]].parent
    while folder.name != spec.test_split:  # cityscapes images sit in a city folder below the split
        folder = folder.parent
    shutil.rmtree(folder)
    with pytest.raises(
        InputError,
        match=rf"split folder not found: {re.escape(str(folder))}\. "
        rf"Valid splits .*: {spec.support_split};",
    ):
        spec.make_reader(fake.data_root).image_ids(spec.test_split)


@pytest.mark.parametrize("key", LISTED_KEYS)
def test_missing_label_folder_is_named(tmp_path: Path, key: str) -> None:
    spec, fake = _fresh(key, tmp_path)
    label_folder = fake.label_paths[fake.split_ids[spec.test_split][0]].parent
    while label_folder.name != spec.test_split:
        label_folder = label_folder.parent
    shutil.rmtree(label_folder)
    with pytest.raises(InputError, match=rf"label folder not found: {re.escape(str(label_folder))}"):
        spec.make_reader(fake.data_root).image_ids(spec.test_split)


@pytest.mark.parametrize("key", KEYS)
def test_image_without_label_is_named_when_listing_reading_and_verifying(tmp_path: Path, key: str) -> None:
    spec, fake = _fresh(key, tmp_path)
    image_id = fake.split_ids[spec.test_split][1]
    fake.label_paths[image_id].unlink()
    label = re.escape(str(fake.label_paths[image_id]))
    reader = spec.make_reader(fake.data_root)
    with pytest.raises(
        InputError,
        match=rf"1 of the 4 images of split '{spec.test_split}' have no label file, "
        rf"e\.g\. {label}",
    ):
        reader.image_ids(spec.test_split)
    with pytest.raises(InputError, match=rf"label file not found: {label}"):
        reader.read_label(image_id)
    with pytest.raises(DatasetVerificationError, match=label):
        verify_dataset(key, fake.data_root, expected_counts=fake.counts, check_labels=False, progress=False)


@pytest.mark.parametrize("key", KEYS)
def test_truncated_image_is_named(tmp_path: Path, key: str) -> None:
    spec, fake = _fresh(key, tmp_path)
    path = fake.image_paths[fake.split_ids[spec.support_split][0]]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match=rf"cannot read {re.escape(str(path))}:.*truncated"):
        spec.make_reader(fake.data_root).read_image(fake.split_ids[spec.support_split][0])


@pytest.mark.parametrize("key", KEYS)
def test_label_value_out_of_range_is_named_by_reader_and_verify(tmp_path: Path, key: str) -> None:
    spec, fake = _fresh(key, tmp_path)
    image_id = fake.split_ids[spec.support_split][2]
    bad_value = PROTOCOL[key].num_classes + int(PROTOCOL[key].reduce_zero_label)  # first raw value ≥ K
    raw = fake.raw_labels[image_id].copy()
    raw[5, 5] = bad_value
    fake.write_label(image_id, raw)
    message = rf"label file {re.escape(str(fake.label_paths[image_id]))} contains value {bad_value}\b"
    with pytest.raises(InputError, match=message):
        spec.make_reader(fake.data_root).read_label(image_id)
    with pytest.raises(DatasetVerificationError, match=message) as error:
        verify_dataset(key, fake.data_root, expected_counts=fake.counts, workers=2, progress=False)
    assert len(error.value.report.problems) == 1
    # The fast mode reads no label, so it cannot see the value.
    assert verify_dataset(key, fake.data_root, expected_counts=fake.counts, check_labels=False, progress=False).ok


def test_label_of_another_size_than_its_image_is_named(tmp_path: Path) -> None:
    spec, fake = _fresh("ade", tmp_path)
    image_id = fake.split_ids["validation"][0]
    fake.write_label(image_id, np.ones((8, 8), np.uint8))
    with pytest.raises(InputError, match=rf"{re.escape(str(fake.label_paths[image_id]))} is 8x8 \(HxW\)"):
        spec.make_reader(fake.data_root).read_label(image_id)


# -- verify ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_verify_passes_when_counts_are_the_fake_counts(fakes: dict[str, FakeDataset], key: str) -> None:
    fake = fakes[key]
    report = verify_dataset(key, fake.data_root, expected_counts=fake.counts, workers=2, progress=False)
    assert report.ok and report.labels_checked == sum(fake.counts.values())
    assert {c.split: (c.expected, c.found) for c in report.counts} == {s: (n, n) for s, n in fake.counts.items()}
    assert "no problems found" in report.format()


def test_verify_count_mismatch_names_split_expected_and_found(fakes: dict[str, FakeDataset]) -> None:
    root = fakes["ade"].data_root
    with pytest.raises(DatasetVerificationError, match=r"split 'training' has 6 images, expected 20210"):
        verify_dataset("ade", root, check_labels=False, progress=False)
    report = verify_dataset("ade", root, check_labels=False, progress=False, raise_on_problems=False)
    assert not report.ok and report.labels_checked == 0
    assert "split 'validation' has 4 images, expected 2000" in report.format()


def test_verify_missing_root_names_the_folder_once(tmp_path: Path) -> None:
    report = verify_dataset("cityscapes", tmp_path, progress=False, raise_on_problems=False)
    assert [c.found for c in report.counts] == [None, None]
    assert len(report.problems) == 1 and str(tmp_path / "cityscapes") in report.problems[0]
