"""COCO-Stuff 164k raw labels → ``*_labelTrainIds.png`` with the 171 train ids 0..170 (protocol §1).

The train id of a raw value is its rank among the 171 raw values that occur (mmsegmentation's
``tools/dataset_converters/coco_stuff164k.py``, ``clsID_to_trID``): things 0..79, stuff
80..170, 255 stays 255 (ignored).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rns_bench.data.prepare.coco_raw import INVALID, UNLABELLED, convert_coco_labels, used_raw_ids
from rns_bench.data.prepare.conversion import ConversionReport

SUFFIX = "_labelTrainIds.png"
NUM_CLASSES = 171


def stuff_train_id_lut() -> np.ndarray:
    """(256,) int16: raw value → train id 0..170, 255 → 255, values that never occur → INVALID."""
    lut = np.full(256, INVALID, dtype=np.int16)
    lut[used_raw_ids()] = np.arange(NUM_CLASSES)
    lut[UNLABELLED] = UNLABELLED
    return lut


def convert_coco_stuff(annotations_dir: Path, out_dir: Path | None = None, workers: int = 1) -> ConversionReport:
    """Write ``<split>/<id>_labelTrainIds.png`` for every raw map in ``annotations_dir/{train2017,val2017}``.

    ``out_dir`` defaults to ``annotations_dir`` (mmseg's layout: converted maps beside the raw ones).
    Existing outputs are kept, so an interrupted run resumes.
    """
    return convert_coco_labels(annotations_dir, out_dir, stuff_train_id_lut(), SUFFIX, "COCO-Stuff train ids", workers)
