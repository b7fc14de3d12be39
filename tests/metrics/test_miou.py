"""Tests of the dataset-level IoU metric against an independent numpy reference of mmseg's maths."""

from __future__ import annotations

import math
import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from hypothesis import given, settings
from hypothesis import strategies as st
from miou_cases import ddp_worker, random_dataset, to_torch

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.metrics import (
    DatasetIoU,
    aacc_from_confusion,
    confusion_matrix,
    iou_from_confusion,
    miou_from_confusion,
    subset_miou,
)

IGNORE = 255
TOL = 1e-6


# --------------------------------------------------------------------------- reference
# Written the way mmseg computes it (mmseg.core.evaluation.metrics: intersect_and_union per
# image, areas summed over the dataset, total_area_to_metrics), with no code shared with the
# implementation under test: no confusion matrix, no torch.


def mmseg_intersect_and_union(
    pred: np.ndarray, label: np.ndarray, num_classes: int, ignore_index: int = IGNORE
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    mask = label != ignore_index
    pred, label = pred[mask], label[mask]
    intersect = pred[pred == label]
    bins = np.arange(num_classes + 1)
    area_intersect = np.histogram(intersect, bins=bins)[0]
    area_pred = np.histogram(pred, bins=bins)[0]
    area_label = np.histogram(label, bins=bins)[0]
    area_union = area_pred + area_label - area_intersect
    return area_intersect, area_union, area_pred, area_label


def mmseg_dataset_metrics(
    pairs: list[tuple[np.ndarray, np.ndarray]], num_classes: int, ignore_index: int = IGNORE
) -> dict[str, object]:
    totals = [np.zeros(num_classes, dtype=np.int64) for _ in range(4)]
    for pred, label in pairs:
        for total, area in zip(totals, mmseg_intersect_and_union(pred, label, num_classes, ignore_index), strict=True):
            total += area
    total_intersect, total_union, _, total_label = totals
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = total_intersect / total_union
        aacc = total_intersect.sum() / total_label.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of all-NaN
        miou = np.nanmean(iou)
    return {"IoU": iou * 100, "mIoU": float(miou) * 100, "aAcc": float(aacc) * 100}


def per_image_average_miou(pairs: list[tuple[np.ndarray, np.ndarray]], num_classes: int) -> float:
    """What a per-image metric (e.g. torchmetrics MeanIoU) would report: the mean of image mIoUs."""
    return float(np.mean([mmseg_dataset_metrics([pair], num_classes)["mIoU"] for pair in pairs]))


# --------------------------------------------------------------------------- data


def assert_matches(result: dict[str, object], expected: dict[str, object]) -> None:
    iou = result["IoU"]
    assert isinstance(iou, torch.Tensor)
    np.testing.assert_allclose(iou.numpy(), expected["IoU"], atol=TOL, rtol=0, equal_nan=True)
    for key in ("mIoU", "aAcc"):
        if math.isnan(expected[key]):
            assert math.isnan(result[key]), key
        else:
            assert result[key] == pytest.approx(expected[key], abs=TOL), key


def functional_metrics(pairs: list[tuple[np.ndarray, np.ndarray]], num_classes: int) -> dict[str, object]:
    cm = sum(confusion_matrix(p, t, num_classes) for p, t in to_torch(pairs))
    return {
        "IoU": iou_from_confusion(cm) * 100,
        "mIoU": miou_from_confusion(cm),
        "aAcc": aacc_from_confusion(cm),
    }


# --------------------------------------------------------------------------- reference comparisons


@pytest.mark.parametrize("seed", range(12))
def test_matches_mmseg_reference_on_random_datasets(seed: int) -> None:
    num_classes = 8
    pairs = random_dataset(seed, num_classes)
    # The premises of the test: the edge-case classes really are what they claim to be.
    preds = np.concatenate([p[t != IGNORE] for p, t in pairs])
    targets = np.concatenate([t[t != IGNORE] for _, t in pairs])
    assert num_classes - 1 not in preds and num_classes - 1 not in targets
    assert num_classes - 2 in preds and num_classes - 2 not in targets
    assert num_classes - 3 not in preds and num_classes - 3 in targets
    assert (np.concatenate([t.ravel() for _, t in pairs]) == IGNORE).any()

    expected = mmseg_dataset_metrics(pairs, num_classes)
    assert_matches(functional_metrics(pairs, num_classes), expected)

    metric = DatasetIoU(num_classes)
    for pred, target in to_torch(pairs):
        metric.update(pred, target)
    result = metric.compute()
    assert_matches(result, expected)
    iou = result["IoU"]
    assert math.isnan(iou[num_classes - 1])  # absent from both: excluded from the mean
    assert iou[num_classes - 2] == 0 and iou[num_classes - 3] == 0  # only predicted / only labelled: counted


@st.composite
def small_dataset(draw: st.DrawFn) -> tuple[int, list[tuple[np.ndarray, np.ndarray]]]:
    num_classes = draw(st.integers(1, 6))
    pairs = []
    for _ in range(draw(st.integers(1, 3))):
        shape = draw(st.tuples(st.integers(1, 6), st.integers(1, 6)))
        pred = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, num_classes - 1)))
        target = draw(hnp.arrays(np.int64, shape, elements=st.sampled_from([*range(num_classes), IGNORE])))
        pairs.append((pred, target))
    return num_classes, pairs


@settings(max_examples=60, deadline=None)
@given(small_dataset())
def test_matches_mmseg_reference_property(case: tuple[int, list[tuple[np.ndarray, np.ndarray]]]) -> None:
    num_classes, pairs = case
    assert_matches(functional_metrics(pairs, num_classes), mmseg_dataset_metrics(pairs, num_classes))


def test_large_label_map_matches_reference() -> None:
    rng = np.random.default_rng(0)
    target = rng.integers(0, 19, size=(1024, 2048))
    target[rng.random(target.shape) < 0.05] = IGNORE
    pred = np.where(rng.random(target.shape) < 0.7, target % 19, rng.integers(0, 19, size=target.shape))
    pairs = [(pred, target)]
    assert_matches(functional_metrics(pairs, 19), mmseg_dataset_metrics(pairs, 19))


# --------------------------------------------------------------------------- hand-checked cases


def test_hand_checked_2x3() -> None:
    target = torch.tensor([[0, 0, 1], [1, 2, IGNORE]])
    pred = torch.tensor([[0, 1, 1], [1, 1, 0]])
    # Labelled (target, pred) pairs: (0,0) (0,1) (1,1) (1,1) (2,1); the ignored pixel's pred 0 is dropped.
    # class 0: I = 1, label 2 + pred 1 - I = 2  -> 1/2
    # class 1: I = 2, label 2 + pred 4 - I = 4  -> 2/4
    # class 2: I = 0, label 1 + pred 0 - I = 1  -> 0
    # class 3: absent from both                 -> NaN, left out of the mean
    # mIoU = (0.5 + 0.5 + 0) / 3 = 33.33; aAcc = 3 correct / 5 labelled = 60
    cm = confusion_matrix(pred, target, num_classes=4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    iou = iou_from_confusion(cm)
    assert iou[:3].tolist() == [0.5, 0.5, 0.0] and math.isnan(iou[3])
    assert miou_from_confusion(cm) == pytest.approx(100 / 3)
    assert aacc_from_confusion(cm) == pytest.approx(60.0)


def test_class_only_predicted_counts_as_zero() -> None:
    # class 0: I = 1, U = 2 -> 0.5; class 4 predicted once, never labelled: U = 1 -> 0 (counted);
    # classes 1..3 absent -> NaN. mIoU = (0.5 + 0) / 2 = 25.
    cm = confusion_matrix(torch.tensor([[0, 4]]), torch.tensor([[0, 0]]), num_classes=5)
    iou = iou_from_confusion(cm)
    assert iou[0] == 0.5 and iou[4] == 0 and torch.isnan(iou[1:4]).all()
    assert miou_from_confusion(cm) == pytest.approx(25.0)


def test_dataset_level_is_not_per_image_average() -> None:
    pairs = [
        (np.array([[0, 0, 0, 0]]), np.array([[0, 0, 0, 0]])),  # perfect: class 0 IoU 1
        (np.array([[1, 1, 1, 1]]), np.array([[0, 1, 1, 1]])),  # class 0 IoU 0, class 1 IoU 3/4
    ]
    # Dataset level: class 0 I = 4, U = 5 -> 0.8; class 1 I = 3, U = 4 -> 0.75; mIoU = 77.5.
    # Per-image average: (100 + (0 + 75) / 2) / 2 = 68.75.
    metric = DatasetIoU(2)
    for pred, target in to_torch(pairs):
        metric.update(pred, target)
    result = metric.compute()
    assert result["mIoU"] == pytest.approx(77.5)
    assert per_image_average_miou(pairs, 2) == pytest.approx(68.75)
    assert result["mIoU"] == pytest.approx(mmseg_dataset_metrics(pairs, 2)["mIoU"])


def test_pred_at_ignored_pixels_does_not_count() -> None:
    target = torch.tensor([[0, 1, IGNORE, IGNORE]])
    a = confusion_matrix(torch.tensor([[0, 1, 0, 0]]), target, 2)
    b = confusion_matrix(torch.tensor([[0, 1, 1, 1]]), target, 2)
    assert torch.equal(a, b) and int(a.sum()) == 2


def test_uint8_target_and_custom_ignore_index() -> None:
    pred = torch.tensor([[0, 1, 2]])
    target = torch.tensor([[0, 1, 255]], dtype=torch.uint8)
    assert confusion_matrix(pred, target, 3).sum() == 2
    # ignore_index 0 (e.g. a "background → ignored" convention): only the pixel labelled 1 counts.
    assert confusion_matrix(pred, torch.tensor([[0, 1, 0]]), 3, ignore_index=0).tolist() == [
        [0, 0, 0],
        [0, 1, 0],
        [0, 0, 0],
    ]


def test_nothing_labelled_gives_nan() -> None:
    cm = confusion_matrix(torch.zeros(2, 2, dtype=torch.long), torch.full((2, 2), IGNORE), 3)
    assert int(cm.sum()) == 0
    assert math.isnan(miou_from_confusion(cm)) and math.isnan(aacc_from_confusion(cm))
    assert torch.isnan(iou_from_confusion(cm)).all()


# --------------------------------------------------------------------------- subset mIoU


def test_subset_miou() -> None:
    iou = torch.tensor([0.5, float("nan"), 0.25, 1.0], dtype=torch.float64)
    assert subset_miou(iou, [0, 2]) == pytest.approx(37.5)
    assert subset_miou(iou, [0, 1, 2]) == pytest.approx(37.5)  # NaN class excluded
    assert subset_miou(iou, range(4)) == pytest.approx(float(np.nanmean(iou.numpy())) * 100)
    assert math.isnan(subset_miou(iou, [1]))  # all excluded
    assert math.isnan(subset_miou(iou, []))


def test_subset_miou_partition_of_dataset_metric() -> None:
    pairs = random_dataset(3)
    cm = sum(confusion_matrix(p, t, 8) for p, t in to_torch(pairs))
    iou = iou_from_confusion(cm)
    assert subset_miou(iou, range(8)) == pytest.approx(miou_from_confusion(cm), abs=TOL)


def test_subset_miou_rejects_out_of_range_class() -> None:
    with pytest.raises(InputError, match=r"\[4\].*0\.\.3"):
        subset_miou(torch.zeros(4), [0, 4])
    with pytest.raises(InputError, match=r"\[-1\]"):
        subset_miou(torch.zeros(4), [-1])


# --------------------------------------------------------------------------- bad input


def test_target_label_out_of_range_names_value_and_range() -> None:
    pred = torch.zeros(2, 2, dtype=torch.long)
    target = torch.tensor([[0, 7], [1, IGNORE]])
    with pytest.raises(InputError, match=r"7.*0\.\.4.*K = 5.*255"):
        confusion_matrix(pred, target, num_classes=5)
    with pytest.raises(InputError, match="7"):
        DatasetIoU(5).update(pred, target)
    with pytest.raises(InputError, match=r"-3"):
        confusion_matrix(pred, torch.tensor([[0, -3], [1, 1]]), num_classes=5)


@pytest.mark.parametrize("bad", [5, -1])
def test_pred_out_of_range_names_value_and_range(bad: int) -> None:
    pred = torch.tensor([[0, bad]])
    with pytest.raises(InputError, match=rf"pred contains class {bad}.*0\.\.4.*K = 5"):
        confusion_matrix(pred, torch.tensor([[0, IGNORE]]), num_classes=5)


def test_shape_dtype_and_num_classes_errors() -> None:
    with pytest.raises(InputError, match=r"same shape.*\(2, 2\).*\(2, 3\)"):
        confusion_matrix(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long), 3)
    with pytest.raises(InputError, match="integer label map.*float32"):
        confusion_matrix(torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.long), 3)
    with pytest.raises(InputError, match="num_classes"):
        confusion_matrix(torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long), 0)
    with pytest.raises(ConfigError, match="num_classes"):
        DatasetIoU(0)


# --------------------------------------------------------------------------- metric state and sync


def test_batch_update_equals_per_image_updates() -> None:
    rng = np.random.default_rng(1)
    target = torch.from_numpy(rng.integers(0, 4, size=(3, 5, 7)))
    target[0, 0] = IGNORE
    pred = torch.from_numpy(rng.integers(0, 4, size=(3, 5, 7)))
    batched, single = DatasetIoU(4), DatasetIoU(4)
    batched.update(pred, target)
    for p, t in zip(pred, target, strict=True):
        single.update(p, t)
    assert torch.equal(batched.confmat, single.confmat)
    assert batched.confmat.dtype == torch.int64 and batched.confmat.shape == (4, 4)


def test_merged_halves_equal_single_metric() -> None:
    pairs = to_torch(random_dataset(7))
    whole, first, second = DatasetIoU(8), DatasetIoU(8), DatasetIoU(8)
    for pred, target in pairs:
        whole.update(pred, target)
    for pred, target in pairs[: len(pairs) // 2]:
        first.update(pred, target)
    for pred, target in pairs[len(pairs) // 2 :]:
        second.update(pred, target)
    assert torch.equal(first.confmat + second.confmat, whole.confmat)  # what DDP's "sum" reduce does
    first.merge_state(second)
    merged, expected = first.compute(), whole.compute()
    assert merged["mIoU"] == expected["mIoU"] and merged["aAcc"] == expected["aAcc"]
    torch.testing.assert_close(merged["IoU"], expected["IoU"], equal_nan=True)


def test_reset_clears_state() -> None:
    metric = DatasetIoU(3)
    metric.update(torch.tensor([[0, 1]]), torch.tensor([[0, 1]]))
    metric.reset()
    assert int(metric.confmat.sum()) == 0


@pytest.mark.early
@pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed gloo")
def test_two_process_gloo_sync_equals_full_data(tmp_path) -> None:
    world_size = 2
    mp.spawn(ddp_worker, args=(world_size, str(tmp_path / "store"), str(tmp_path)), nprocs=world_size, join=True)
    pairs = random_dataset(11)
    expected = mmseg_dataset_metrics(pairs, 8)
    total_labelled = sum(int((t != IGNORE).sum()) for _, t in pairs)
    local_counts = []
    for rank in range(world_size):
        result = torch.load(tmp_path / f"rank{rank}.pt")
        assert_matches(result, expected)
        local_counts.append(result["local_count"])
    # Each rank really held only part of the data before the sync.
    assert sum(local_counts) == total_labelled and all(0 < c < total_labelled for c in local_counts)
