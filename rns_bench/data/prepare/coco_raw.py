"""The raw COCO-Stuff 164k label maps and the look-up-table conversion both COCO datasets share.

Raw labels (``stuffthingmaps_trainval2017.zip``, unzipped into ``coco_stuff164k/annotations/``)
are greyscale PNGs ``annotations/{train2017,val2017}/<12-digit id>.png`` whose pixel value is
the COCO category id − 1: things 0..90, stuff 91..181, 255 = unlabelled. Eleven thing ids
(COCO 12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91) were never annotated, which leaves 80 things
and 91 stuff classes. Converted maps are written next to the raw ones with a suffix, as
mmsegmentation's converters do (protocol §1).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from rns_bench.core.atomic_io import save_label_png
from rns_bench.core.errors import InputError
from rns_bench.data.prepare.conversion import ConversionReport, require_folder, run_jobs

SPLITS = ("train2017", "val2017")
NUM_RAW_IDS = 182  # COCO category id − 1, 0..181
UNLABELLED = 255
# Raw values (COCO id − 1) of the 11 thing categories COCO never annotated.
UNUSED_RAW_IDS = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
NUM_RAW_THINGS = 91  # raw 0..90 are things (80 used), 91..181 stuff
INVALID = -1  # look-up-table entry for a raw value that must not occur
FIX = (
    "Download stuffthingmaps_trainval2017.zip and unzip it into <data root>/coco_stuff164k/annotations/ "
    "(mmsegmentation's COCO-Stuff 164k instructions), or pass --source pointing at that folder."
)


@dataclass(frozen=True)
class RawLabelJob:
    """Convert the raw label map ``raw`` into ``output``."""

    raw: Path
    output: Path


def used_raw_ids() -> np.ndarray:
    """(171,) the raw values that occur, ascending: their rank is the COCO-Stuff train id."""
    return np.setdiff1d(np.arange(NUM_RAW_IDS), UNUSED_RAW_IDS)


def is_raw_label(path: Path) -> bool:
    """Raw maps are ``<digits>.png``; converted ones carry a suffix (``_labelTrainIds`` ...)."""
    return path.suffix == ".png" and path.stem.isdigit()


def raw_label_jobs(annotations_dir: Path, out_dir: Path, suffix: str) -> list[RawLabelJob]:
    """One job per raw map of every split: ``<split>/<id>.png`` → ``out_dir/<split>/<id><suffix>``."""
    require_folder(annotations_dir, "COCO-Stuff raw annotations", FIX)
    jobs = []
    for split in SPLITS:
        split_dir = require_folder(annotations_dir / split, f"COCO-Stuff raw {split} annotations", FIX)
        raws = sorted(p for p in split_dir.iterdir() if is_raw_label(p))
        if not raws:
            raise InputError(f"no raw label maps (<image id>.png) in {split_dir}. {FIX}")
        jobs += [RawLabelJob(raw, out_dir / split / f"{raw.stem}{suffix}") for raw in raws]
    return jobs


def convert_raw_label(job: RawLabelJob, lut: np.ndarray) -> None:
    """Map one raw label map through ``lut`` ((256,) int16, INVALID = must not occur) and save it."""
    try:
        with Image.open(job.raw) as image:
            if image.mode not in ("L", "P"):
                raise InputError(
                    f"raw COCO-Stuff label {job.raw} has PIL mode {image.mode!r}; expected the "
                    f"8-bit greyscale maps of stuffthingmaps_trainval2017.zip. {FIX}"
                )
            raw = np.array(image, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(f"cannot read {job.raw}: {error}. Re-extract it. {FIX}") from error
    mapped = lut[raw]
    if (mapped == INVALID).any():
        bad = np.unique(raw[mapped == INVALID]).tolist()
        # mmseg's converter would leave such values unmapped (colliding with real train ids).
        raise InputError(
            f"raw COCO-Stuff label {job.raw} holds values {bad[:10]}, which are not COCO-Stuff "
            f"category ids (valid: 0..181 except {list(UNUSED_RAW_IDS)}, and {UNLABELLED}). "
            "Is this a raw stuffthingmaps PNG?"
        )
    save_label_png(job.output, mapped)


def convert_coco_labels(
    annotations_dir: Path, out_dir: Path | None, lut: np.ndarray, suffix: str, desc: str, workers: int = 1
) -> ConversionReport:
    """Convert every raw map under ``annotations_dir`` with ``lut`` into ``out_dir`` (default: beside it)."""
    annotations_dir = Path(annotations_dir)
    out_dir = Path(out_dir) if out_dir is not None else annotations_dir
    jobs = raw_label_jobs(annotations_dir, out_dir, suffix)
    written, skipped = run_jobs(jobs, partial(convert_raw_label, lut=lut), desc, workers)
    counts = {split: sum(job.raw.parent.name == split for job in jobs) for split in SPLITS}
    note = ", ".join(f"{split}: {count}" for split, count in counts.items())
    return ConversionReport(written, skipped, out_dir, (f"raw label maps per split: {note}",))
