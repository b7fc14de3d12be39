"""PASCAL Context ``trainval_merged.json`` (PASCAL-in-Detail format) → Context-60 label PNGs (protocol §1).

Writes ``VOC2010/SegmentationClassContext/<image>.png`` (0 = background, 1..59 the Context
classes in mmseg order) and ``VOC2010/ImageSets/SegmentationContext/{train,val}.txt`` (sorted
ids), as mmsegmentation's ``tools/dataset_converters/pascal_context.py`` does with the
Detail API -- reimplemented on the JSON directly, so neither ``detail`` nor pycocotools is
needed:

* an image's class mask starts at 0 and each of its segmentation annotations, in file order,
  paints its RLE mask with its Detail category id (later ones overwrite earlier ones), as
  ``Detail.getMask(img)`` does;
* Detail category ids map to Context-60 indices by their rank among the 60 ids below
  (mmseg's ``np.digitize`` over the sorted ``_mapping``); an id outside them is an error
  (mmseg asserts).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rns_bench.core.atomic_io import save_label_png, write_text_atomic
from rns_bench.core.errors import InputError
from rns_bench.data.prepare.coco_rle import decode_rle
from rns_bench.data.prepare.conversion import ConversionReport, require_file, run_jobs

# Detail category ids of background (0) and the 59 Context classes, ascending = class index 0..59.
CONTEXT60_DETAIL_IDS = (
    0,
    2,
    9,
    18,
    19,
    22,
    23,
    25,
    31,
    33,
    34,
    44,
    45,
    46,
    59,
    65,
    68,
    72,
    80,
    85,
    98,
    104,
    105,
    113,
    115,
    144,
    158,
    159,
    162,
    187,
    189,
    207,
    220,
    232,
    258,
    259,
    260,
    284,
    295,
    296,
    308,
    324,
    326,
    347,
    349,
    354,
    355,
    360,
    366,
    368,
    397,
    415,
    416,
    420,
    424,
    427,
    440,
    445,
    454,
    458,
)
SPLITS = ("train", "val")
LABEL_DIR = "SegmentationClassContext"
SPLIT_DIR = "ImageSets/SegmentationContext"
FIX = (
    "Download trainval_merged.json (PASCAL Context, PASCAL-in-Detail format; see mmsegmentation's "
    "Pascal Context instructions) into <data root>/VOCdevkit/VOC2010/, or pass --source pointing at it."
)


@dataclass(frozen=True)
class ContextLabelJob:
    """Paint one image's annotations ((Detail category id, RLE), in order) into ``output``."""

    image: str
    height: int
    width: int
    annotations: tuple[tuple[int, dict], ...]
    output: Path


def context60_index(class_mask: np.ndarray, image: str) -> np.ndarray:
    """(H, W) Detail category ids → (H, W) uint8 Context-60 indices; other ids are an error."""
    ids = np.asarray(CONTEXT60_DETAIL_IDS)
    index = np.clip(np.searchsorted(ids, class_mask), 0, ids.size - 1)
    unknown = ids[index] != class_mask
    if unknown.any():
        bad = np.unique(class_mask[unknown]).tolist()
        raise InputError(
            f"PASCAL Context image {image} has Detail category ids {bad[:10]} that are not among "
            f"the 59 Context classes + background; is the JSON trainval_merged.json? {FIX}"
        )
    return index.astype(np.uint8)


def paint_context_label(job: ContextLabelJob) -> None:
    """Build one image's Context-60 label map from its annotations and save it (atomically)."""
    class_mask = np.zeros((job.height, job.width), dtype=np.int64)
    for category_id, rle in job.annotations:
        mask = decode_rle(rle)
        if mask.shape != class_mask.shape:
            raise InputError(
                f"PASCAL Context image {job.image}: an annotation mask is {mask.shape[0]}x"
                f"{mask.shape[1]} but the image is {job.height}x{job.width}; the JSON is corrupt. {FIX}"
            )
        class_mask[mask] = category_id
    save_label_png(job.output, context60_index(class_mask, job.image))


def load_detail_json(path: Path) -> dict[str, Any]:
    """The parsed JSON, checked for the two lists the conversion reads."""
    require_file(path, "PASCAL Context annotation JSON", FIX)
    print(f"loading {path} (the full file is large: this takes a minute) ...", flush=True)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not valid JSON ({error}); the download is truncated or corrupt. {FIX}") from error
    if not isinstance(data, dict) or not {"images", "annos_segmentation"} <= data.keys():
        raise InputError(
            f"{path} is not a PASCAL-in-Detail annotation file: it needs the keys 'images' and "
            f"'annos_segmentation'. {FIX}"
        )
    return data


def annotations_per_image(data: dict[str, Any]) -> dict[Any, list[tuple[int, dict]]]:
    """Image id → its (Detail category id, RLE) annotations in the order ``Detail.getMask`` paints them."""
    # Detail indexes annotations in a dict by id: a repeated id keeps its first position, last value.
    per_image: dict[Any, list[tuple[int, dict]]] = defaultdict(list)
    try:
        by_id = {segment["id"]: segment for segment in data["annos_segmentation"]}
        for segment in by_id.values():
            per_image[segment["image_id"]].append((int(segment["category_id"]), segment["segmentation"]))
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(
            f"an 'annos_segmentation' entry is unusable ({error!r}): it needs id, image_id, "
            f"category_id and segmentation. {FIX}"
        ) from error
    return per_image


def context_label_jobs(
    data: dict[str, Any], per_image: dict[Any, list[tuple[int, dict]]], split: str, label_dir: Path
) -> list[ContextLabelJob]:
    """One job per image of ``split`` (Detail's ``phase``), in JSON order."""
    jobs = []
    for image in (image for image in data["images"] if image.get("phase") == split):
        try:
            stem = Path(image["file_name"]).stem
            jobs.append(
                ContextLabelJob(
                    stem,
                    int(image["height"]),
                    int(image["width"]),
                    tuple(per_image.get(image["image_id"], ())),
                    label_dir / f"{stem}.png",
                )
            )
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(
                f"an 'images' entry is unusable ({error!r}): it needs image_id, file_name, height, "
                f"width and phase, got {str(image)[:200]}. {FIX}"
            ) from error
    if not jobs:
        raise InputError(f"the PASCAL Context JSON lists no images of phase {split!r}. {FIX}")
    return jobs


def _listed_and_present(split_file: Path, label_dir: Path) -> int | None:
    """Number of ids in ``split_file`` if it exists and all their labels do, else None."""
    if not split_file.is_file():
        return None
    ids = split_file.read_text().split()
    return len(ids) if ids and all((label_dir / f"{i}.png").is_file() for i in ids) else None


def convert_context(annotation_json: Path, voc2010_dir: Path, workers: int = 1) -> ConversionReport:
    """Write the Context-60 labels and split files under ``voc2010_dir`` from ``annotation_json``.

    Resumable: labels that exist are kept, and when both split files exist with all their labels
    the (slow to parse) JSON is not even read.
    """
    label_dir, split_dir = Path(voc2010_dir) / LABEL_DIR, Path(voc2010_dir) / SPLIT_DIR
    done = [_listed_and_present(split_dir / f"{split}.txt", label_dir) for split in SPLITS]
    if all(n is not None for n in done):
        return ConversionReport(0, sum(done), label_dir, ("split files and every listed label already exist",))
    data = load_detail_json(Path(annotation_json))
    per_image = annotations_per_image(data)
    written = skipped = 0
    notes = []
    for split in SPLITS:
        jobs = context_label_jobs(data, per_image, split, label_dir)
        new, kept = run_jobs(jobs, paint_context_label, f"Context-60 {split} labels", workers)
        listing = "".join(f"{stem}\n" for stem in sorted(job.image for job in jobs))  # mmseg sorts the ids
        split_file = split_dir / f"{split}.txt"
        if not split_file.is_file() or split_file.read_text() != listing:
            write_text_atomic(split_file, listing)  # after its labels: a listed id always has its label
            new += 1
        else:
            kept += 1
        written, skipped = written + new, skipped + kept
        notes.append(f"{split}: {len(jobs)} images")
    return ConversionReport(written, skipped, label_dir, tuple(notes))
