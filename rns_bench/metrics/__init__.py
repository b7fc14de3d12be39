"""Benchmark metric: dataset-level mIoU, aAcc and per-class IoU (spec protocol.md §3)."""

from rns_bench.metrics.miou import (
    DatasetIoU,
    aacc_from_confusion,
    confusion_matrix,
    iou_from_confusion,
    miou_from_confusion,
    subset_miou,
)

__all__ = [
    "DatasetIoU",
    "aacc_from_confusion",
    "confusion_matrix",
    "iou_from_confusion",
    "miou_from_confusion",
    "subset_miou",
]
