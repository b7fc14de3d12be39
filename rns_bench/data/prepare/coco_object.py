"""COCO-Stuff 164k raw labels → COCO-Object ``*_instanceTrainIds.png``: 80 things → 1..80, rest → 0.

Protocol §1: class 0 is "background" = every stuff class *and* the unlabelled pixels, so the
maps have no ignore pixels. This is GroupViT's ``convert_dataset/convert_coco_object.py``, the
converter the training-free OVS papers (and the RNS authors' COCO-Object numbers) use: the
COCO-Stuff train id t of a thing becomes t + 1, every raw value above 90 -- stuff and 255 --
becomes 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rns_bench.data.prepare.coco_raw import INVALID, NUM_RAW_THINGS, UNLABELLED, convert_coco_labels, used_raw_ids
from rns_bench.data.prepare.conversion import ConversionReport

SUFFIX = "_instanceTrainIds.png"
NUM_THINGS = 80
BACKGROUND = 0


def object_train_id_lut() -> np.ndarray:
    """(256,) int16: raw thing value → 1..80 (its rank + 1), stuff and 255 → 0, never-used values → INVALID."""
    lut = np.full(256, INVALID, dtype=np.int16)
    used = used_raw_ids()
    things = used[used < NUM_RAW_THINGS]
    assert things.size == NUM_THINGS  # 91 raw thing values minus the 11 never annotated
    lut[things] = np.arange(1, NUM_THINGS + 1)
    lut[used[used >= NUM_RAW_THINGS]] = BACKGROUND
    lut[UNLABELLED] = BACKGROUND  # §1: unlabelled is background, not ignored
    return lut


def convert_coco_object(annotations_dir: Path, out_dir: Path | None = None, workers: int = 1) -> ConversionReport:
    """Write ``<split>/<id>_instanceTrainIds.png`` for every raw map in ``annotations_dir/{train2017,val2017}``.

    ``out_dir`` defaults to ``annotations_dir``; existing outputs are kept, so a run resumes.
    """
    return convert_coco_labels(
        annotations_dir, out_dir, object_train_id_lut(), SUFFIX, "COCO-Object train ids", workers
    )
