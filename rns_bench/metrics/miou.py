"""Dataset-level IoU as mmseg computes it (spec protocol.md §3 "Metric").

Pure functions on a (K, K) confusion matrix, plus :class:`DatasetIoU`, a thin torchmetrics
wrapper whose only state is that matrix. Intersections and unions are summed over **all**
test images before dividing (mmseg ``intersect_and_union`` + ``total_area_to_metrics``); it
is not a per-image average, which is why ``torchmetrics.segmentation.MeanIoU`` is not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchmetrics import Metric

from rns_bench.core.errors import ConfigError, InputError


def confusion_matrix(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = 255
) -> torch.Tensor:
    """Count (target class, predicted class) pairs over the labelled pixels.

    Args:
        pred: (...) integer label map(s) of predicted classes, every value in [0, K).
        target: (...) integer ground truth, same shape; values in [0, K) or ``ignore_index``.
        num_classes: K.
        ignore_index: target value of pixels left out of the count (255 in every dataset).

    Returns:
        (K, K) int64 on ``pred``'s device; rows = target class, columns = predicted class.

    Raises:
        InputError: on a shape mismatch, a non-integer tensor, or a value out of range.
    """
    if num_classes < 1:
        raise InputError(f"num_classes must be >= 1, got {num_classes}")
    if pred.shape != target.shape:
        raise InputError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    for name, tensor in (("pred", pred), ("target", target)):
        # A float label map usually means probabilities were passed instead of their argmax.
        if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
            raise InputError(f"{name} must be an integer label map, got dtype {tensor.dtype}")
    pred = pred.reshape(-1).long()
    target = target.reshape(-1).long().to(pred.device)

    # Every pred value is checked, ignored pixels included: a label map is an argmax, so an
    # out-of-range value anywhere is a bug upstream, not something to drop silently (mmseg's
    # histc would drop it).
    bad = _first_out_of_range(pred, num_classes)
    if bad is not None:
        raise InputError(f"pred contains class {bad}; allowed values are 0..{num_classes - 1} (K = {num_classes})")

    labelled = target != ignore_index
    pred, target = pred[labelled], target[labelled]
    bad = _first_out_of_range(target, num_classes)
    if bad is not None:
        raise InputError(
            f"target contains label {bad}; allowed values are 0..{num_classes - 1} (K = {num_classes}) "
            f"or the ignore index {ignore_index}"
        )
    # One bincount over a flat (target, pred) pair index: a single pass, fast on 2048x1024 maps.
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _first_out_of_range(labels: torch.Tensor, num_classes: int) -> int | None:
    """The smallest (if negative) or largest (if >= K) value of flat ``labels``; None if all in range."""
    if labels.numel() == 0:
        return None
    low, high = int(labels.min()), int(labels.max())
    if low < 0:
        return low
    return high if high >= num_classes else None


def iou_from_confusion(cm: torch.Tensor) -> torch.Tensor:
    """Per-class IoU = intersection / union, from a (K, K) confusion matrix.

    Union counts predicted pixels too, so a class predicted but absent from the ground truth
    has IoU 0 and counts in the mean; a class absent from both has union 0 and IoU NaN.

    Returns:
        (K,) float64 in [0, 1], NaN where union == 0.
    """
    cm = cm.double()  # float64: exact integer counts up to 2**53, like mmseg's numpy arrays
    intersect = cm.diagonal()
    union = cm.sum(0) + cm.sum(1) - intersect  # area_pred + area_label - intersect
    iou = intersect / union.clamp_min(1)
    return iou.masked_fill(union == 0, float("nan"))


def miou_from_confusion(cm: torch.Tensor) -> float:
    """mIoU x 100: mean IoU over the classes with non-zero union (NaN if there is none)."""
    return float(torch.nanmean(iou_from_confusion(cm))) * 100.0


def aacc_from_confusion(cm: torch.Tensor) -> float:
    """aAcc x 100: correctly predicted / labelled pixels (NaN if no pixel is labelled)."""
    cm = cm.double()
    total = float(cm.sum())
    return float(cm.diagonal().sum()) / total * 100.0 if total > 0 else float("nan")


def subset_miou(iou: torch.Tensor, classes: Sequence[int]) -> float:
    """mIoU x 100 over a subset of classes (paper Table 3: supported / unsupported / all).

    Args:
        iou: (K,) per-class IoU in [0, 1] as from :func:`iou_from_confusion` (NaN = absent).
        classes: class indices in [0, K); duplicates count once.

    Returns:
        nanmean of ``iou[classes]`` x 100; NaN when ``classes`` is empty or all of them are NaN.
    """
    num_classes = iou.shape[0]
    index = sorted(set(int(c) for c in classes))
    bad = [c for c in index if not 0 <= c < num_classes]
    if bad:
        raise InputError(f"class indices {bad} are out of range; allowed values are 0..{num_classes - 1}")
    if not index:
        return float("nan")
    return float(torch.nanmean(iou[index].double())) * 100.0


class DatasetIoU(Metric):
    """Dataset-level mIoU, aAcc and per-class IoU over every image seen by :meth:`update`.

    The only state is a (K, K) int64 confusion matrix summed across processes under DDP, so
    the result is the same for any split of the images over ranks.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False  # update never reads the state, so merge_state and fast sync work

    confmat: torch.Tensor

    def __init__(self, num_classes: int, ignore_index: int = 255, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"num_classes must be a positive int, got {num_classes!r}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.add_state("confmat", default=torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one label map (H, W) or a batch (B, H, W); ``pred`` and ``target`` same shape."""
        cm = confusion_matrix(pred, target, self.num_classes, self.ignore_index)
        self.confmat += cm.to(self.confmat.device)

    def compute(self) -> dict[str, Any]:
        """``{"mIoU": float, "aAcc": float, "IoU": (K,) float64 x 100, NaN for absent classes}``."""
        return {
            "mIoU": miou_from_confusion(self.confmat),
            "aAcc": aacc_from_confusion(self.confmat),
            "IoU": iou_from_confusion(self.confmat) * 100.0,
        }
