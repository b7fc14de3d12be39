"""Support data of one run for methods and for tuning: the bank, pixel-level support, the
85 / 15 train / validation split of the support images and validation items.

Everything here reads the support split only (protocol: the test split is never used for
tuning). Labels follow the bank's conventions: resized to the features' resolution with
nearest interpolation, 255 = ignore.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rns_bench.bank import SupportBank
from rns_bench.data.datamodule import DatasetContext
from rns_bench.errors import InputError
from rns_bench.methods.base import SupportPixels
from rns_bench.ops.resize import resize_label

IGNORE_INDEX = 255


def drop_label_classes(label: torch.Tensor, classes: Sequence[int]) -> torch.Tensor:
    """(H, W) label map with the pixels of ``classes`` set to ignore (partial visual support, spec §5)."""
    if not len(classes):
        return label
    dropped = torch.isin(label, torch.as_tensor(list(classes), dtype=label.dtype))
    return label.masked_fill(dropped, IGNORE_INDEX)


def support_images(context: DatasetContext, image_ids: Sequence[str],
                   drop_classes: Sequence[int] = ()) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The support images (H, W, 3) uint8 and their original-resolution labels, pixels of
    ``drop_classes`` set to ignore: what methods with ``needs_support_images`` train on."""
    images, labels = [], []
    for image_id in image_ids:
        label = context.reader.read_label(image_id)
        if len(drop_classes):
            label = np.where(np.isin(label, list(drop_classes)), IGNORE_INDEX, label).astype(label.dtype)
        images.append(context.reader.read_image(image_id))
        labels.append(label)
    return images, labels


def support_pixels(context: DatasetContext, image_ids: Sequence[str],
                   drop_classes: Sequence[int] = ()) -> list[SupportPixels]:
    """Pixel-level support of ``image_ids``: (h, w, D) features and (H, W) labels at the resized
    resolution (as the bank sees them), pixels of ``drop_classes`` set to ignore."""
    dense = context.support_store.get(list(image_ids), context.reader.read_image, desc="support features")
    items = []
    for image_id, features in zip(image_ids, dense, strict=True):
        label = resize_label(context.reader.read_label(image_id), features.resized_hw)
        label = torch.from_numpy(label.astype(np.int64))
        items.append(SupportPixels(image_id, features.features, drop_label_classes(label, drop_classes)))
    return items


def bank_of_pixels(items: Sequence[SupportPixels], num_classes: int, patch_size: int) -> SupportBank:
    """The support bank pooled from pixel-level support (the same rows as ``DatasetContext.build_bank``)."""
    if not items:
        raise InputError("no support images to build a bank from")
    bank = SupportBank(num_classes, items[0].features.shape[-1])
    for item in items:
        bank.add_image(item.image_id, item.features, item.label, patch_size)
    return bank


def evaluation_items(context: DatasetContext, image_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Validation items shaped like test items (``SegMethod.test_step``): features under the *test*
    extraction settings (validation images stand in for test images), resized_hw and the
    original-resolution label, so validation mIoU is computed exactly as test mIoU."""
    if context.test_store is None:
        raise InputError("validation items need the context's test_store (the test extraction settings)")
    dense = context.test_store.get(list(image_ids), context.reader.read_image, desc="validation features")
    return [{"image_id": image_id, "features": features.features, "resized_hw": features.resized_hw,
             "label": torch.from_numpy(context.reader.read_label(image_id).astype(np.int64))}
            for image_id, features in zip(image_ids, dense, strict=True)]


def split_support(image_ids: Sequence[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded train / validation split of the support images themselves (paper supp. 6.4: 85 / 15).

    At least one image on each side; the order of each side follows ``image_ids``.
    """
    if not 0.0 < val_fraction < 1.0:
        raise InputError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    if len(image_ids) < 2:
        raise InputError(f"a support set of {len(image_ids)} image(s) cannot be split into train and validation; "
                         "tuning needs at least 2 support images")
    num_val = min(max(1, round(val_fraction * len(image_ids))), len(image_ids) - 1)
    order = torch.randperm(len(image_ids), generator=torch.Generator().manual_seed(seed)).tolist()
    val = set(order[:num_val])
    return ([i for n, i in enumerate(image_ids) if n not in val], [i for n, i in enumerate(image_ids) if n in val])
