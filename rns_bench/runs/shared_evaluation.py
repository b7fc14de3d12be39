"""One evaluation for every cell whose number it is: zero-shot once per (dataset, text setting).

A method that reads no support image (``SegMethod.reads_support = False``: zero-shot, text only)
predicts the same label maps at every shot count and seed, so its confusion matrix is the same;
only under partial text does the seed matter (it drops the names). A sweep evaluates it once per
``runs.fingerprint.evaluation_fingerprint`` and writes every other cell's record from that evaluation:
the same metrics, with the cell's own support split, per-class support counts and the mIoU over classes with
and without visual support (which depend on the cell's split and dropped classes) recomputed from
the per-class IoU, exactly as the method computes them. Each such record says so
(``evaluated_once``) and names the record its evaluation came from.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable

import torch

from rns_bench.methods.base import support_subset_metrics
from rns_bench.runs.config import ProtocolConfig
from rns_bench.runs.context import RunContext
from rns_bench.runs.fingerprint import config_fingerprint
from rns_bench.runs.plan import PlannedRun
from rns_bench.runs.records import RunRecord
from rns_bench.runs.support import partial_support

SUBSET_METRICS = ("mIoU_supported", "mIoU_unsupported")


class SharedEvaluations:
    """Records of support-free runs by evaluation fingerprint: those of earlier sweeps on disk and this sweep's."""

    def __init__(self, records: Iterable[RunRecord] = ()):
        self._records: dict[str, RunRecord | None] = {}
        for record in records:
            if record.evaluation_fingerprint and not record.evaluated_once:
                self._records.setdefault(record.evaluation_fingerprint, record)

    def source_of(self, evaluation: str) -> RunRecord | None:
        return self._records.get(evaluation)

    def has(self, evaluation: str) -> bool:
        return evaluation in self._records

    def add(self, evaluation: str, record: RunRecord | None) -> None:
        """``record`` of the run that evaluated ``evaluation`` (None on DDP workers: they only need to know)."""
        self._records.setdefault(evaluation, record)


def record_from_shared_evaluation(
    protocol: ProtocolConfig, context: RunContext, planned: PlannedRun, source: RunRecord
) -> RunRecord:
    """The record of ``planned`` (under ``protocol``) from ``source``, the record of the same evaluation at
    another cell."""
    key = planned.key
    partial = partial_support(protocol, len(context.class_names), key.seed)
    split = context.support_split(key.shots, key.seed)
    per_class = context.images_per_class(split)
    # the bank's rows are the classes present in the support-resized labels (§2.2): exactly presence
    supported = torch.tensor([count > 0 for count in per_class.values()], dtype=torch.bool)
    supported[list(partial.no_images)] = False
    iou = torch.tensor([math.nan if v is None else v for v in source.per_class_iou.values()], dtype=torch.float64)
    metrics = {k: v for k, v in source.metrics.items() if k not in SUBSET_METRICS}
    metrics.update(support_subset_metrics(iou, supported))
    return dataclasses.replace(
        source,
        fingerprint=planned.fingerprint,
        config_fingerprint=config_fingerprint(planned.identity),
        identity=planned.identity,
        shots=key.shots,
        seed=key.seed,
        support_split={"sha256": split.sha256, "image_ids": list(split.image_ids)},
        support_images_per_class=per_class,
        classes_without_images=list(partial.no_images),
        classes_without_names=list(partial.no_names),
        metrics=metrics,
        evaluated_once={
            "source_fingerprint": source.fingerprint,
            "source_shots": source.shots,
            "source_seed": source.seed,
            "why": f"{planned.row.method} reads no support image: its prediction is the same at "
            "every shots and seed of this text setting, so it was evaluated once",
        },
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
