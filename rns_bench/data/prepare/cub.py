"""CUB-200-2011 with its segmentations → a folder-listed layout with per-class labels (MESS's preparation).

CUB ships ``images/<NNN.Class_Name>/<name>.jpg``, one soft mask per image in
``segmentations/<NNN.Class_Name>/<name>.png`` (the mean of five annotators, 0..255),
``images.txt`` (``<image id> <relative path>``) and ``train_test_split.txt`` (``<image id> <1 = train>``).
As MESS (``prepare_cub_200.py``) prepares it: a pixel is the bird when the mask is > 128 (a
majority of the annotators), and the bird pixels take the image's class index NNN (1..200), the
rest 0 = background; no ignore value. Images are flat per split under ``images_detectron2/<split>/``
(names are unique) and labels under ``annotations_detectron2/<split>/``, MESS's folder names, with
the train split as well (our support comes from it). Unlike MESS, which re-saves each image through
PIL (JPEG quality 75), the image bytes are copied unchanged.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from rns_bench.core.atomic_io import atomic_target, save_label_png
from rns_bench.core.errors import InputError
from rns_bench.data.prepare.conversion import ConversionReport, require_file, require_folder, run_jobs

IMAGE_DIR = "images_detectron2"
LABEL_DIR = "annotations_detectron2"
MAJORITY = 128  # mask values above this: more than half of the five annotators marked the bird
FIX = (
    "extract CUB_200_2011.tgz (https://data.caltech.edu/records/65de6-vp158) and segmentations.tgz "
    "(https://data.caltech.edu/records/w9d68-gec53) into <data root>/CUB_200_2011"
)


@dataclass(frozen=True)
class CUBJob:
    image: Path
    mask: Path
    class_index: int
    output: Path  # the label; the image copy is written before it, so an existing label means both exist
    image_output: Path


def cub_label(mask: np.ndarray, class_index: int) -> np.ndarray:
    """(H, W) uint8: ``class_index`` where the soft mask says bird (> 128), else 0."""
    return np.where(mask > MAJORITY, class_index, 0).astype(np.uint8)


def cub_jobs(root: Path, out_root: Path) -> list[CUBJob]:
    """One job per image of ``images.txt``, its split from ``train_test_split.txt``."""
    require_folder(root, "the CUB-200-2011 folder", FIX)
    images = _table(require_file(root / "images.txt", "CUB's image list", FIX))
    is_train = _table(require_file(root / "train_test_split.txt", "CUB's train/test split", FIX))
    jobs = []
    for image_id, relative in images.items():
        if image_id not in is_train:
            raise InputError(
                f"{root / 'train_test_split.txt'} has no line for image {image_id} ({relative}); "
                f"the two files must come from the same CUB_200_2011.tgz"
            )
        split = "train" if is_train[image_id] == "1" else "test"
        class_index = int(relative.split(".", 1)[0])
        if not 1 <= class_index <= 200:
            raise InputError(f"{root / 'images.txt'}: {relative} does not start with a class number 001..200")
        name = Path(relative).name
        mask = (root / "segmentations" / relative).with_suffix(".png")
        jobs.append(
            CUBJob(
                image=root / "images" / relative,
                mask=mask,
                class_index=class_index,
                output=(out_root / LABEL_DIR / split / name).with_suffix(".png"),
                image_output=out_root / IMAGE_DIR / split / name,
            )
        )
    return jobs


def convert_cub(root: Path, out_root: Path | None = None, workers: int = 1) -> ConversionReport:
    """Write the images and labels of both splits under ``out_root`` (default: ``root``); resumable."""
    root = Path(root)
    out_root = Path(out_root) if out_root is not None else root
    jobs = cub_jobs(root, out_root)
    missing = next((job.mask for job in jobs if not job.mask.is_file()), None)
    if missing is not None:  # before any work: a missing segmentations.tgz is the usual mistake
        raise InputError(f"CUB segmentation mask not found: {missing}; {FIX}")
    written, skipped = run_jobs(jobs, _convert_one, "CUB labels", workers)
    counts = {split: sum(1 for job in jobs if job.output.parent.name == split) for split in ("train", "test")}
    return ConversionReport(
        written, skipped, out_root / LABEL_DIR, notes=(f"train {counts['train']} / test {counts['test']} images",)
    )


def _convert_one(job: CUBJob) -> None:
    try:
        with Image.open(job.mask) as mask:
            mask_array = np.asarray(mask.convert("L"))
            size = mask.size
        with Image.open(job.image) as image:
            if image.size != size:
                raise InputError(
                    f"CUB mask {job.mask} is {size[0]}×{size[1]} but its image {job.image} is "
                    f"{image.size[0]}×{image.size[1]}"
                )
    except OSError as error:
        raise InputError(f"cannot read {job.mask} or {job.image} ({error}); extract the archives again") from None
    with atomic_target(job.image_output) as tmp:
        shutil.copyfile(job.image, tmp)
    save_label_png(job.output, cub_label(mask_array, job.class_index))


def _table(path: Path) -> dict[str, str]:
    rows = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                raise InputError(f"{path}:{number}: expected '<image id> <value>', got {line!r}")
            rows[parts[0]] = parts[1].strip()
    return rows
