"""rns_bench.metrics.DatasetIoU against mmsegmentation 1.2.2's IoUMetric (protocol §3 "Metric").

Random label maps of several sizes with ignore pixels, a class absent from prediction and
ground truth (IoU NaN, left out of the mean) and a class only predicted (IoU 0, counted).
mmseg's ``intersect_and_union`` per image, summed over the dataset, then
``total_area_to_metrics`` give the exact per-class IoU; ``process`` + ``compute_metrics`` give
its reported (2-decimal) mIoU and aAcc.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("mmseg", reason="mmsegmentation is the optional reference (tests/reference_mmseg/README.md)")

from reference_mmseg.mmcv_ops_stub import import_with_mmcv_ops_stub  # noqa: E402

from rns_bench.metrics import DatasetIoU  # noqa: E402

IoUMetric = import_with_mmcv_ops_stub("mmseg.evaluation").IoUMetric

IGNORE = 255
NUM_CLASSES = 9
ABSENT = 4  # in neither prediction nor ground truth
ONLY_PREDICTED = 7  # predicted, never in the ground truth
SHAPES = ((17, 23), (32, 32), (5, 61), (40, 9))


def random_pairs(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    rng = np.random.default_rng(seed)
    present = [c for c in range(NUM_CLASSES) if c not in (ABSENT, ONLY_PREDICTED)]
    pairs = []
    for shape in SHAPES:
        target = rng.choice(present, size=shape)
        pred = np.where(rng.random(shape) < 0.6, target, rng.choice(present + [ONLY_PREDICTED], size=shape))
        target[rng.random(shape) < 0.15] = IGNORE  # ignore pixels: left out whatever is predicted there
        pairs.append((torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(target.astype(np.int64))))
    return pairs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dataset_iou_matches_mmseg_iou_metric(seed):
    pairs = random_pairs(seed)
    ours = DatasetIoU(NUM_CLASSES, ignore_index=IGNORE)
    areas = []
    for pred, target in pairs:
        ours.update(pred, target)
        areas.append(IoUMetric.intersect_and_union(pred, target, NUM_CLASSES, IGNORE))
    result = ours.compute()
    totals = [sum(area[i] for area in areas) for i in range(4)]
    theirs = IoUMetric.total_area_to_metrics(*totals, metrics=["mIoU"])

    our_iou = result["IoU"].numpy()
    their_iou = theirs["IoU"].astype(np.float64) * 100.0
    assert np.isnan(their_iou).tolist() == np.isnan(our_iou).tolist()
    assert np.isnan(our_iou[ABSENT]) and our_iou[ONLY_PREDICTED] == 0.0 == their_iou[ONLY_PREDICTED]
    np.testing.assert_allclose(our_iou, their_iou, rtol=1e-5, atol=1e-5, equal_nan=True)
    assert math.isclose(result["mIoU"], float(np.nanmean(their_iou)), rel_tol=1e-6)
    assert math.isclose(result["aAcc"], float(theirs["aAcc"]) * 100.0, rel_tol=1e-6)


def test_dataset_iou_matches_mmseg_reported_metrics():
    """End to end through IoUMetric.process / compute_metrics (which round to 2 decimals)."""
    pairs = random_pairs(seed=3)
    ours = DatasetIoU(NUM_CLASSES, ignore_index=IGNORE)
    metric = IoUMetric(ignore_index=IGNORE, iou_metrics=["mIoU"])
    metric.dataset_meta = {"classes": [f"class{c}" for c in range(NUM_CLASSES)]}
    for pred, target in pairs:
        ours.update(pred, target)
        metric.process({}, [{"pred_sem_seg": {"data": pred[None]}, "gt_sem_seg": {"data": target[None]}}])
    reported = metric.compute_metrics(metric.results)
    result = ours.compute()
    assert abs(result["mIoU"] - float(reported["mIoU"])) <= 0.005 + 1e-9
    assert abs(result["aAcc"] - float(reported["aAcc"])) <= 0.005 + 1e-9
