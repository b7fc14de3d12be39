"""Class presence and the drawn support split follow OpenCV's nearest resize at real image sizes.

Fake Cityscapes (1024×2048, resized to 448×896 for CLIP) and COCO-Stuff (480×640 → 448×597)
datasets whose train labels hold one-pixel objects: some where cv2's INTER_NEAREST samples (they
survive the support resize), some where PIL's NEAREST samples (they vanish under cv2). Presence
— and so the support split of every published seed — must be the one cv2's resize implies
(protocol §2.2: the release resizes with mmcv's imrescale).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from data.fake_datasets import write_fake_dataset
from data.small_toy import split_only_store
from PIL import Image

from rns_bench.data.declared import spec_for_key
from rns_bench.data.sampling import class_presence, sample_pool, sample_support
from rns_bench.ops.resize import rescale_size
from rns_bench.runs.context import prepare_context

SHORT = 448
# key → the real (H, W) of its images
CASES = {"cityscapes": (1024, 2048), "coco_stuff": (480, 640)}


def _kept_and_lost(height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """A pixel cv2's nearest resize keeps and one it drops while PIL's keeps it."""
    size = rescale_size(height, width, SHORT)
    rows = np.floor(np.arange(size[0]) * height / size[0]).astype(int)
    cols = np.floor(np.arange(size[1]) * width / size[1]).astype(int)
    pil_rows = np.floor((np.arange(size[0]) + 0.5) * height / size[0]).astype(int)
    pil_cols = np.floor((np.arange(size[1]) + 0.5) * width / size[1]).astype(int)
    kept = (int(rows[3]), int(cols[3]))
    lost_row = next(r for r in pil_rows if r not in set(rows))
    lost_col = next(c for c in pil_cols if c not in set(cols))
    return kept, (int(lost_row), int(lost_col))


def _rewrite_at_real_size(key: str, data_root: Path) -> tuple[dict[str, np.ndarray], list[int]]:
    """Rewrite every train image of the fake ``key`` at its real size; returns the raw labels and the
    two 'tiny' classes: each a single pixel (kept by cv2 in some images, only by PIL in others)
    plus one visible stripe somewhere, so every class has a candidate under either resize."""
    fake = write_fake_dataset(key, data_root)
    spec = spec_for_key(key, data_root)
    height, width = CASES[key]
    num_classes = len(spec.class_names())
    tiny = [num_classes - 2, num_classes - 1]
    stripes = [c for c in range(num_classes) if c not in tiny]  # ≥ 3 px wide: they survive any resize here
    kept, lost = _kept_and_lost(height, width)
    labels = {}
    for index, image_id in enumerate(fake.split_ids[spec.support_split]):
        label = np.repeat(np.repeat(np.asarray(stripes, np.uint8)[None, :], height, 0), width // len(stripes), 1)
        label = np.pad(label, ((0, 0), (0, width - label.shape[1])), mode="edge")
        a, b = tiny
        if index == 0:
            label[:, :200] = a  # a visible stripe of each tiny class in one image
        if index == 1:
            label[:, :200] = b
        # Images 2, 3: `a` where cv2 samples, `b` where only PIL samples; images 4, 5 the other way.
        label[kept if index in (2, 3) else lost] = a
        label[lost if index in (2, 3) else kept] = b
        fake.write_label(image_id, label)
        Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(fake.image_paths[image_id])
        labels[image_id] = label
    return labels, tiny


def _presence(labels: dict[str, np.ndarray], ids: list[str], num_classes: int, resample: str) -> np.ndarray:
    rows = []
    for image_id in ids:
        label = labels[image_id]
        size = rescale_size(*label.shape, SHORT)
        if resample == "cv2":
            resized = cv2.resize(label, size[::-1], interpolation=cv2.INTER_NEAREST)
        else:
            resized = np.asarray(Image.fromarray(label).resize(size[::-1], Image.NEAREST))
        rows.append(class_presence(resized, num_classes))
    return np.stack(rows)


@pytest.mark.parametrize("key", list(CASES))
def test_presence_and_support_splits_follow_the_opencv_resize(tmp_path: Path, key: str) -> None:
    labels, tiny = _rewrite_at_real_size(key, tmp_path)
    spec = spec_for_key(key, tmp_path)
    num_classes = len(spec.class_names())
    context = prepare_context(spec, tmp_path, split_only_store(SHORT), presence_cache_dir=tmp_path / "presence")
    ids = context.reader.image_ids(spec.support_split)
    ours = context._presence_of(ids)
    cv2_presence, pil_presence = (_presence(labels, ids, num_classes, r) for r in ("cv2", "pil"))
    assert np.array_equal(ours, cv2_presence)
    assert not np.array_equal(cv2_presence[:, tiny], pil_presence[:, tiny])  # the case tells the two apart

    differing_seeds = 0
    for seed in spec.full_support_seeds + spec.partial_support_seeds:
        pool = [ids[i] for i in sample_pool(len(ids), seed)]
        position = {image_id: i for i, image_id in enumerate(ids)}
        order = [position[i] for i in pool]
        for shots in (1, 2):
            split = context.support_split(shots, seed)
            expected = tuple(pool[i] for i in sample_support(cv2_presence[order], shots, seed))
            with_pil = tuple(pool[i] for i in sample_support(pil_presence[order], shots, seed))
            assert split.image_ids == expected, (seed, shots)
            differing_seeds += with_pil != expected
    assert differing_seeds > 0  # PIL's presence would draw other support images for some seed
