"""Write the embedded ``toy`` dataset to disk in the VOC layout, atomically and deterministically.

``<root>/toy/seed<seed>/`` holds JPEGImages/*.jpg (quality 95), SegmentationClass/*.png
(palette PNGs with the VOC colormap; pixel values are class indices), ImageSets/Segmentation/
{train,val}.txt and ``toy_manifest.json``. The dataset is rendered into a temporary sibling
folder and renamed into place, so a half-written dataset is never visible under the final
name; a lock file serialises concurrent writers. Same seed → byte-identical files.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

from rns_bench.core.atomic_io import file_lock
from rns_bench.core.errors import InputError
from rns_bench.data.readers.voc_layout import VOCLayout
from rns_bench.ops.label_maps import voc_colormap
from rns_bench.toy.world import SPLITS, ToyWorld, toy_class_names

GENERATOR_VERSION = 1  # bump when rendering changes: old folders are then rewritten
MANIFEST = "toy_manifest.json"
_TMP_MARK = ".tmp-"


def toy_dataset_dir(root: Path, seed: int = 0) -> Path:
    """Where the toy dataset of ``seed`` lives under the data root."""
    return Path(root) / "toy" / f"seed{seed}"


def ensure_toy_dataset(root: Path, seed: int = 0, *, n_train: int = 240, n_val: int = 80) -> Path:
    """The dataset folder of ``seed``; written first only if missing, incomplete or stale."""
    target = toy_dataset_dir(root, seed)
    if _is_complete(target, _manifest(seed, n_train, n_val)):
        return target
    return write_toy_dataset(root, seed, n_train, n_val)


def write_toy_dataset(root: Path, seed: int = 0, n_train: int = 240, n_val: int = 80) -> Path:
    """Render and write the toy dataset; returns its folder (see module docstring).

    A folder already complete with the same manifest is kept as is (it would be identical).
    """
    if n_train < 1 or n_val < 1:
        raise InputError(f"toy dataset needs at least one train and one val image, got {n_train}/{n_val}")
    target = toy_dataset_dir(root, seed)
    manifest = _manifest(seed, n_train, n_val)
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.parent / f".{target.name}.lock"):
        if _is_complete(target, manifest):  # another writer finished while we waited
            return target
        # Holding the lock, no other writer is active: staging folders left now are from
        # writers that died mid-way.
        for leftover in target.parent.glob(f".{target.name}{_TMP_MARK}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        staging = target.parent / f".{target.name}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            _write_all(staging, seed, {"train": n_train, "val": n_val}, manifest)
            _move_into_place(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _manifest(seed: int, n_train: int, n_val: int) -> dict:
    return {
        "dataset": "toy",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "counts": {"train": n_train, "val": n_val},
        "classes": toy_class_names(),
    }


def _is_complete(folder: Path, manifest: dict) -> bool:
    # The manifest is written last inside the staging folder, and the folder appears under
    # its final name only by an atomic rename, so a readable matching manifest means complete.
    try:
        return json.loads((folder / MANIFEST).read_text()) == manifest
    except (OSError, ValueError):
        return False


def _write_all(folder: Path, seed: int, counts: dict[str, int], manifest: dict) -> None:
    layout = VOCLayout(folder)
    for directory in (layout.image_dir, layout.label_dir, layout.split_dir):
        (folder / directory).mkdir(parents=True, exist_ok=True)
    world = ToyWorld(seed)
    palette = voc_colormap().ravel().tolist()
    for split_index, split in enumerate(SPLITS):
        ids = [f"{split}_{i:04d}" for i in range(counts[split])]
        for index, image_id in enumerate(ids):
            # One generator per image: any image can be re-rendered alone, in any order.
            rng = np.random.default_rng([seed, split_index, index])
            required = 1 + index % (world.num_classes - 1)  # every class in every split
            image, label = world.render(rng, split, required_class=required)
            Image.fromarray(image).save(layout.image_path(image_id), quality=95)
            label_image = Image.fromarray(label)
            label_image.putpalette(palette)  # "L" → "P": pixel values stay the class indices
            label_image.save(layout.label_path(image_id))
        layout.split_file(split).write_text("".join(f"{i}\n" for i in ids))
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename staging → target; an existing (incomplete or stale) target is swapped out first."""
    if target.exists():
        trash = target.parent / f".{target.name}{_TMP_MARK}old-{uuid.uuid4().hex[:8]}"
        os.rename(target, trash)
        os.rename(staging, target)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(staging, target)
