"""Small fake datasets in each real on-disk layout (protocol §1), for reader tests and end-to-end runs.

``write_fake_dataset(key, data_root, seed)`` writes the files that dataset ``key`` reads, where
and how the real dataset has them (folder and file names, suffixes, split files or split
folders, palette or greyscale PNG labels, JPEG or PNG images), and returns a
:class:`FakeDataset` saying what it wrote. Keys that share files (voc/voc20,
context/context59, coco_object/coco_stuff) write the same files; the same seed gives the same
files, so writing both keys of a pair is safe.

Per dataset: 6 train and 4 val images of 32x48 to 40x44 pixels (sizes vary), labels built from
4x4-pixel blocks of one raw value each, images coloured by class (a seeded colour per raw value
plus noise, so a backbone can tell classes apart).

Shots supported: every raw label value appears in at least ``SHOTS_SUPPORTED`` = 2 different
train images, in blocks that survive the support resize (§2.2: these images are only upscaled)
and at original size, so support sampling (§2) finds a candidate for every class at any seed
and any B ≥ 1. B = 1 is the intended setting (every class gets an image of its own); B = 2
can give a class two images; larger B runs, limited by each class's candidates (≥ 2).

Layout specifics, as on real disks:

* voc: ``VOCdevkit/VOC2012``, palette PNGs 0..20 with 255 bands on object boundaries; split
  files list ids in a non-sorted order (readers must keep file order).
* context: ``VOCdevkit/VOC2010``, palette PNGs 0..59 in ``SegmentationClassContext``.
* coco: ``coco_stuff164k``, JPEGs named by 12-digit ids, greyscale ``_labelTrainIds.png`` 0..170
  with 255 (unlabelled) blocks, and ``_instanceTrainIds.png`` derived as the preparation step
  does (thing ids 0..79 → 1..80; stuff ids and 255 → 0; no ignore pixels).
* cityscapes: PNG images in city folders, greyscale ``_gtFine_labelTrainIds.png`` 0..18 + 255.
* ade: ``ADEChallengeData2016``, greyscale PNGs 0..150 where 0 = other.
* food: ``FoodSeg103/Images/{img_dir,ann_dir}/{train,test}``, JPEGs and greyscale PNGs 0..103.
* cub: the ``CUB_200_2011`` archives (``images/<NNN.Name>/``, soft ``segmentations/``, ``images.txt``,
  ``train_test_split.txt``), then prepared as a user would (``prepare cub``): one species per image,
  200 train images (one per species) and 4 test images.
* acdc: ``acdc/rgb_anon/<condition>/<split>/<sequence>/*_rgb_anon.png`` + ``gt/..._gt_labelTrainIds.png``.

One raw value per dataset (``train_only_value``) appears in train images only: a class with
visual support that the test split never shows.

Command line, for the end-to-end check (``make bench DATASET=<key> ARGS="data_root=<root>"``)::

    python tests/data/fake_datasets.py <root> [--seed 0] [key ...]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from rns_bench.ops.label_maps import voc_colormap

# The paper's eight benchmarks (protocol §1), declared in configs/dataset/<key>.yaml with data_version "".
BENCHMARK_KEYS = ("voc", "voc20", "context", "context59", "coco_object", "coco_stuff", "cityscapes", "ade")
SHOTS_SUPPORTED = 2
N_TRAIN, N_VAL = 6, 4
BLOCK = 4  # label block side in pixels: a 3x3 core survives VOC's boundary band
SIZES = ((32, 48), (36, 52), (40, 44))  # (H, W), cycled over the images of a split
IGNORE = 255


@dataclass
class FakeDataset:
    """What a writer put on disk, in the terms of the reader of ``key``.

    ``split_ids`` holds the reader's ids per split in the order the reader must return them;
    ``raw_labels`` the (H, W) uint8 values written for each id (before ``reduce_zero_label``).
    """

    key: str
    data_root: Path
    split_ids: dict[str, list[str]]
    raw_labels: dict[str, np.ndarray]
    image_paths: dict[str, Path]
    label_paths: dict[str, Path]
    train_only_value: int
    palette_labels: bool
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return {split: len(ids) for split, ids in self.split_ids.items()}

    def write_label(self, image_id: str, raw: np.ndarray) -> None:
        """Overwrite the label of ``image_id`` with ``raw``, in this dataset's PNG flavour."""
        _save_label(self.label_paths[image_id], raw, self.palette_labels)


# -- label and image content -------------------------------------------------------------------


def _block_label(rng: np.random.Generator, shape: tuple[int, int], must_have: list[int], fill: list[int]) -> np.ndarray:
    """(H, W) uint8 of BLOCKxBLOCK blocks: each of ``must_have`` in one block, the rest from ``fill``."""
    rows, cols = shape[0] // BLOCK, shape[1] // BLOCK
    assert len(must_have) <= rows * cols, "too many classes for one fake image"
    blocks = rng.choice(np.asarray(fill, np.uint8), size=rows * cols)
    blocks[rng.permutation(rows * cols)[: len(must_have)]] = must_have
    return np.kron(blocks.reshape(rows, cols), np.ones((BLOCK, BLOCK), np.uint8)).astype(np.uint8)


def _boundary_bands(label: np.ndarray) -> np.ndarray:
    """VOC-style 255 band on the last row/column of a block where the next block differs."""
    banded = label.copy()
    banded[:, :-1][label[:, :-1] != label[:, 1:]] = IGNORE
    banded[:-1, :][label[:-1, :] != label[1:, :]] = IGNORE
    return banded


def _split_labels(
    rng: np.random.Generator, values: list[int], extra_fill: list[int], train_only: int
) -> dict[str, list[np.ndarray]]:
    """Raw label maps per split: every value in ≥ 2 train images; ``train_only`` never in val."""
    fill = [v for v in values if v != train_only] + extra_fill
    train = []
    for i in range(N_TRAIN):
        # value j goes to train images j % N and (j + 1) % N: two distinct images each.
        must_have = [v for j, v in enumerate(values) if i in (j % N_TRAIN, (j + 1) % N_TRAIN)]
        train.append(_block_label(rng, SIZES[i % len(SIZES)], must_have, fill))
    val = [_block_label(rng, SIZES[(i + 1) % len(SIZES)], [], fill) for i in range(N_VAL)]
    return {"train": train, "val": val}


def _image_for(label: np.ndarray, colours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8: the class colour of each pixel plus noise."""
    noise = rng.integers(-20, 21, size=(*label.shape, 3))
    return np.clip(colours[label].astype(np.int16) + noise, 0, 255).astype(np.uint8)


def _save_label(path: Path, raw: np.ndarray, palette: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(raw.astype(np.uint8), mode="L")
    if palette:
        image.putpalette(voc_colormap().ravel().tolist())  # mode becomes "P"; pixel values stay indices
    image.save(path)


def _save_image(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **({"quality": 95} if path.suffix == ".jpg" else {}))


def _distinct_numbers(rng: np.random.Generator, count: int, high: int) -> list[int]:
    return [int(n) for n in rng.choice(high, size=count, replace=False)]


# -- layouts ------------------------------------------------------------------------------------


def _write_split_file_layout(
    key: str,
    data_root: Path,
    seed: int,
    *,
    folder: str,
    label_dir: str,
    split_dir: str,
    num_values: int,
    boundary_bands: bool,
) -> FakeDataset:
    """VOC 2012 / VOC 2010 Context: JPEGImages, palette PNG labels, ImageSets/<...>/<split>.txt."""
    rng = np.random.default_rng(seed)
    root = Path(data_root) / folder
    values = list(range(num_values))
    labels = _split_labels(rng, values, [], train_only=values[-1])
    colours = np.random.default_rng(seed + 1).integers(0, 256, size=(256, 3), dtype=np.uint8)
    fake = FakeDataset(key, Path(data_root), {}, {}, {}, {}, values[-1], palette_labels=True)
    numbers = iter(_distinct_numbers(rng, N_TRAIN + N_VAL, 10**6))
    for split, maps in labels.items():
        ids = [f"{2007 + n % 5}_{n:06d}" for n in (next(numbers) for _ in maps)]
        # ids 1 and 0 swapped: the split file is not sorted, and readers must keep its order.
        ids[0], ids[1] = sorted(ids[:2], reverse=True)
        for image_id, raw in zip(ids, maps, strict=True):
            raw = _boundary_bands(raw) if boundary_bands else raw
            fake.image_paths[image_id] = root / "JPEGImages" / f"{image_id}.jpg"
            fake.label_paths[image_id] = root / label_dir / f"{image_id}.png"
            _save_image(fake.image_paths[image_id], _image_for(raw, colours, rng))
            fake.write_label(image_id, raw)
            fake.raw_labels[image_id] = raw
        (root / split_dir).mkdir(parents=True, exist_ok=True)
        (root / split_dir / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
        fake.split_ids[split] = ids
    return fake


def _place_listed(
    fake: FakeDataset,
    split: str,
    relative_stems: list[str],
    maps: list[np.ndarray],
    *,
    image_root: Path,
    label_root: Path,
    image_suffix: str,
    label_suffix: str,
    colours: np.ndarray,
    rng: np.random.Generator,
    colour_maps: list[np.ndarray] | None = None,
) -> None:
    """Write a directory-listed split; its ids are in sorted-relative-path order (mmseg's).

    Images are coloured by ``colour_maps`` (default: the labels ``maps``).
    """
    for stem, raw, colour_by in zip(relative_stems, maps, colour_maps or maps, strict=True):
        image_id = f"{split}/{stem}"
        fake.image_paths[image_id] = image_root / f"{image_id}{image_suffix}"
        fake.label_paths[image_id] = label_root / f"{image_id}{label_suffix}"
        _save_image(fake.image_paths[image_id], _image_for(colour_by, colours, rng))
        fake.write_label(image_id, raw)
        fake.raw_labels[image_id] = raw
    order = sorted(relative_stems, key=lambda stem: f"{stem}{image_suffix}")
    fake.split_ids[split] = [f"{split}/{stem}" for stem in order]


def _write_coco(key: str, data_root: Path, seed: int, *, object_labels: bool) -> FakeDataset:
    """coco_stuff164k: images/<split>2017/<12 digits>.jpg; annotations/... both label kinds.

    The returned dataset describes the instanceTrainIds (``object_labels``) or labelTrainIds.
    """
    rng = np.random.default_rng(seed)
    root = Path(data_root) / "coco_stuff164k"
    stuff_train_only = 79  # 'toothbrush', a thing: coco_object's class 80 is train-only too
    labels = _split_labels(rng, list(range(171)), [IGNORE], train_only=stuff_train_only)
    colours = np.random.default_rng(seed + 1).integers(0, 256, size=(256, 3), dtype=np.uint8)
    fake = FakeDataset(
        key, Path(data_root), {}, {}, {}, {}, stuff_train_only + int(object_labels), palette_labels=False
    )
    numbers = iter(_distinct_numbers(rng, N_TRAIN + N_VAL, 600_000))
    for split, stuff_maps in labels.items():
        stems = [f"{next(numbers):012d}" for _ in stuff_maps]
        kinds = [(_object_ids(stuff_maps), "_instanceTrainIds.png"), (stuff_maps, "_labelTrainIds.png")]
        (own_maps, own_suffix), (sibling_maps, sibling_suffix) = kinds if object_labels else kinds[::-1]
        # Images are coloured by the stuff ids for both keys, so both writers write the same files.
        _place_listed(
            fake,
            f"{split}2017",
            stems,
            own_maps,
            colour_maps=stuff_maps,
            image_root=root / "images",
            label_root=root / "annotations",
            image_suffix=".jpg",
            label_suffix=own_suffix,
            colours=colours,
            rng=np.random.default_rng(seed + 2),
        )
        for stem, raw in zip(stems, sibling_maps, strict=True):  # the sibling key's labels, same images
            _save_label(root / "annotations" / f"{split}2017" / f"{stem}{sibling_suffix}", raw, palette=False)
    return fake


def _object_ids(stuff_maps: list[np.ndarray]) -> list[np.ndarray]:
    """COCO-Object labels from COCO-Stuff train ids: things 0..79 → 1..80, the rest → 0 (§1)."""
    return [np.where(raw < 80, raw + 1, 0).astype(np.uint8) for raw in stuff_maps]


def _write_cityscapes(key: str, data_root: Path, seed: int) -> FakeDataset:
    """cityscapes/leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png + gtFine train ids."""
    rng = np.random.default_rng(seed)
    root = Path(data_root) / "cityscapes"
    labels = _split_labels(rng, list(range(19)), [IGNORE], train_only=18)
    colours = np.random.default_rng(seed + 1).integers(0, 256, size=(256, 3), dtype=np.uint8)
    fake = FakeDataset(key, Path(data_root), {}, {}, {}, {}, 18, palette_labels=False)
    cities = {"train": ("zurich", "aachen"), "val": ("munster", "frankfurt")}
    for split, maps in labels.items():
        stems = []
        for index in range(len(maps)):
            city = cities[split][index % 2]
            stems.append(f"{city}/{city}_{index:06d}_{int(rng.integers(0, 10**6)):06d}")
        _place_listed(
            fake,
            split,
            stems,
            maps,
            image_root=root / "leftImg8bit",
            label_root=root / "gtFine",
            image_suffix="_leftImg8bit.png",
            label_suffix="_gtFine_labelTrainIds.png",
            colours=colours,
            rng=rng,
        )
    return fake


def _write_ade(key: str, data_root: Path, seed: int) -> FakeDataset:
    """ADEChallengeData2016/images/<training|validation>/ADE_<train|val>_<8 digits>.jpg + PNG labels."""
    rng = np.random.default_rng(seed)
    root = Path(data_root) / "ADEChallengeData2016"
    labels = _split_labels(rng, list(range(151)), [], train_only=150)  # raw 0 = other
    colours = np.random.default_rng(seed + 1).integers(0, 256, size=(256, 3), dtype=np.uint8)
    fake = FakeDataset(key, Path(data_root), {}, {}, {}, {}, 150, palette_labels=False)
    for split, folder, prefix in (("train", "training", "ADE_train"), ("val", "validation", "ADE_val")):
        numbers = _distinct_numbers(rng, len(labels[split]), 20_000)
        stems = [f"{prefix}_{n:08d}" for n in numbers]
        _place_listed(
            fake,
            folder,
            stems,
            labels[split],
            image_root=root / "images",
            label_root=root / "annotations",
            image_suffix=".jpg",
            label_suffix=".png",
            colours=colours,
            rng=rng,
        )
    return fake


def _write_food(key: str, data_root: Path, seed: int) -> FakeDataset:
    """FoodSeg103/Images/img_dir/<train|test>/<n>.jpg + ann_dir/<split>/<n>.png, 0 = background."""
    rng = np.random.default_rng(seed)
    root = Path(data_root) / "FoodSeg103" / "Images"
    labels = _split_labels(rng, list(range(104)), [], train_only=103)
    colours = np.random.default_rng(seed + 1).integers(0, 256, size=(256, 3), dtype=np.uint8)
    fake = FakeDataset(key, Path(data_root), {}, {}, {}, {}, 103, palette_labels=False)
    for split, maps in (("train", labels["train"]), ("test", labels["val"])):
        stems = [str(n) for n in _distinct_numbers(rng, len(maps), 7000)]
        _place_listed(
            fake,
            split,
            stems,
            maps,
            image_root=root / "img_dir",
            label_root=root / "ann_dir",
            image_suffix=".jpg",
            label_suffix=".png",
            colours=colours,
            rng=rng,
        )
    return fake


CUB_SPECIES = ((1, "001.Black_footed_Albatross"), (17, "017.Cardinal"), (36, "036.Northern_Flicker"))


def _cub_folder(index: int) -> str:
    named = dict(CUB_SPECIES)
    return named.get(index, f"{index:03d}.Species_{index:03d}")


def write_cub_archives(data_root: Path, seed: int = 0, species: int = 200) -> dict[str, object]:
    """The files of CUB_200_2011.tgz + segmentations.tgz: one train image per species 1..``species``
    (the sampler needs every class in the pool, as the real train split has) and 4 test images of
    CUB_SPECIES; soft masks 0..255 (a bird rectangle of 255, a rim of 128 = a tie, not the bird)."""
    rng = np.random.default_rng(seed)
    root = Path(data_root) / "CUB_200_2011"
    images, splits, truth = [], [], {}
    plan = [("train", index) for index in range(1, species + 1)]
    plan += [("test", index) for index, _ in CUB_SPECIES] + [("test", CUB_SPECIES[0][0])]
    for number, (split, index) in enumerate(plan):
        folder = _cub_folder(index)
        name = f"{folder.split('.', 1)[1]}_{number:04d}_{int(rng.integers(1, 99999))}"
        height, width = SIZES[number % len(SIZES)]
        mask = np.zeros((height, width), np.uint8)
        mask[8:24, 8:28] = 128  # the rim: exactly half of the annotators → background
        mask[10:22, 10:26] = 255
        bird = mask > 128
        pixels = np.where(bird[..., None], [200, index, 30], [20, 120, 60]).astype(np.uint8)
        noise = rng.integers(-15, 16, size=pixels.shape)
        _save_image(root / "images" / folder / f"{name}.jpg", np.clip(pixels + noise, 0, 255).astype(np.uint8))
        (root / "segmentations" / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask, mode="L").save(root / "segmentations" / folder / f"{name}.png")
        images.append(f"{number + 1} {folder}/{name}.jpg")
        splits.append(f"{number + 1} {int(split == 'train')}")
        truth[f"{split}/{name}"] = np.where(bird, index, 0).astype(np.uint8)
    (root / "images.txt").write_text("\n".join(images) + "\n")
    (root / "train_test_split.txt").write_text("\n".join(splits) + "\n")
    return {"root": root, "labels": truth}


def _write_cub(key: str, data_root: Path, seed: int) -> FakeDataset:
    from rns_bench.data.prepare.cub import IMAGE_DIR, LABEL_DIR, convert_cub

    archives = write_cub_archives(data_root, seed)
    root = archives["root"]
    convert_cub(root)
    fake = FakeDataset(key, Path(data_root), {}, {}, {}, {}, -1, palette_labels=False)
    for image_id, raw in archives["labels"].items():
        fake.raw_labels[image_id] = raw
        fake.image_paths[image_id] = root / IMAGE_DIR / f"{image_id}.jpg"
        fake.label_paths[image_id] = root / LABEL_DIR / f"{image_id}.png"
    for split in ("train", "test"):
        fake.split_ids[split] = sorted(i for i in archives["labels"] if i.startswith(f"{split}/"))
    return fake


ACDC_CONDITIONS = ("fog", "night", "rain", "snow")


def _write_acdc(key: str, data_root: Path, seed: int) -> FakeDataset:
    """acdc/rgb_anon/<condition>/<split>/<GOPRnnnn>/<GOPRnnnn>_frame_<6 digits>_rgb_anon.png + gt train ids."""
    rng = np.random.default_rng(seed)
    root = Path(data_root) / "acdc"
    labels = _split_labels(rng, list(range(19)), [IGNORE], train_only=18)
    colours = np.random.default_rng(seed + 3).integers(0, 256, size=(256, 3), dtype=np.uint8)
    fake = FakeDataset(key, Path(data_root), {}, {}, {}, {}, 18, palette_labels=False)
    for split, maps in labels.items():
        ids = []
        for condition_index, condition in enumerate(ACDC_CONDITIONS):
            own = maps[condition_index :: len(ACDC_CONDITIONS)]
            sequence = f"GOPR{int(rng.integers(100, 9999)):04d}"
            stems = [f"{sequence}/{sequence}_frame_{int(rng.integers(0, 10**6)):06d}" for _ in own]
            _place_listed(
                fake,
                f"{condition}/{split}",
                stems,
                own,
                image_root=root / "rgb_anon",
                label_root=root / "gt",
                image_suffix="_rgb_anon.png",
                label_suffix="_gt_labelTrainIds.png",
                colours=colours,
                rng=rng,
            )
            ids += fake.split_ids.pop(f"{condition}/{split}")
        fake.split_ids[split] = ids
    return fake


_VOC2012 = dict(
    folder="VOCdevkit/VOC2012",
    label_dir="SegmentationClass",
    split_dir="ImageSets/Segmentation",
    num_values=21,
    boundary_bands=True,
)
_CONTEXT = dict(
    folder="VOCdevkit/VOC2010",
    label_dir="SegmentationClassContext",
    split_dir="ImageSets/SegmentationContext",
    num_values=60,
    boundary_bands=False,
)

FAKE_WRITERS: dict[str, Callable[[str, Path, int], FakeDataset]] = {
    "voc": partial(_write_split_file_layout, **_VOC2012),
    "voc20": partial(_write_split_file_layout, **_VOC2012),
    "context": partial(_write_split_file_layout, **_CONTEXT),
    "context59": partial(_write_split_file_layout, **_CONTEXT),
    "coco_object": partial(_write_coco, object_labels=True),
    "coco_stuff": partial(_write_coco, object_labels=False),
    "cityscapes": _write_cityscapes,
    "ade": _write_ade,
    "food": _write_food,
    "cub": _write_cub,
    "acdc": _write_acdc,
}


def write_fake_dataset(key: str, data_root: Path, seed: int = 0) -> FakeDataset:
    """Write the fake files of dataset ``key`` under ``data_root`` (see the module docstring)."""
    return FAKE_WRITERS[key](key, Path(data_root), seed)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write small fake datasets in the real on-disk layouts.")
    parser.add_argument("data_root", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("keys", nargs="*", help=f"datasets to write (default: all of {', '.join(FAKE_WRITERS)})")
    args = parser.parse_args()
    unknown = sorted(set(args.keys) - set(FAKE_WRITERS))
    if unknown:
        parser.error(f"unknown keys {unknown}; valid: {', '.join(FAKE_WRITERS)}")
    for key in args.keys or FAKE_WRITERS:
        fake = write_fake_dataset(key, args.data_root, args.seed)
        print(f"{key}: {fake.counts} under {args.data_root}")


if __name__ == "__main__":
    main()
