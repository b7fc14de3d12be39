"""Support data of one run read through its context, for methods and for tuning: support images,
pixel-level support and validation items.

Everything here reads the support split only (protocol: the test split is never used for
tuning). Labels follow the bank's conventions: resized to the features' resolution with
nearest interpolation, 255 = ignore.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.methods.base import SegMethod
from rns_bench.ops.resize import resize_label
from rns_bench.runs.config import ProtocolConfig
from rns_bench.runs.context import RunContext
from rns_bench.support.bank import SupportBank
from rns_bench.support.partial import PartialSupport
from rns_bench.support.pixels import IGNORE_INDEX, SupportPixels, drop_label_classes


def partial_support(protocol: ProtocolConfig, num_classes: int, seed: int) -> PartialSupport:
    """The run's classes without images / names (rns spec §5), from ``protocol.*``."""
    return PartialSupport.of(num_classes, protocol.visual_drop_fraction, protocol.text_drop_fraction, seed)


def support_images(
    context: RunContext, image_ids: Sequence[str], drop_classes: Sequence[int] = ()
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The support images (H, W, 3) uint8 and their original-resolution labels, pixels of
    ``drop_classes`` set to ignore: what methods with ``needs_support_images`` train on."""
    images, labels = [], []
    for image_id in image_ids:
        label = context.support_reader.read_label(image_id)
        if len(drop_classes):
            label = np.where(np.isin(label, list(drop_classes)), IGNORE_INDEX, label).astype(label.dtype)
        images.append(context.support_reader.read_image(image_id))
        labels.append(label)
    return images, labels


def support_pixels(
    context: RunContext, image_ids: Sequence[str], drop_classes: Sequence[int] = ()
) -> list[SupportPixels]:
    """Pixel-level support of ``image_ids``: (h, w, D) features and (H, W) labels at the resized
    resolution (as the bank sees them), pixels of ``drop_classes`` set to ignore."""
    dense = context.support_store.get(
        list(image_ids),
        context.support_reader.read_image,
        desc="support features",
        entry_name=context.support_reader.image_digest,
    )
    items = []
    for image_id, features in zip(image_ids, dense, strict=True):
        label = resize_label(context.support_reader.read_label(image_id), features.resized_hw)
        label = torch.from_numpy(label.astype(np.int64))
        items.append(SupportPixels(image_id, features.features, drop_label_classes(label, drop_classes)))
    return items


def evaluation_items(context: RunContext, image_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Validation items shaped like test items (``SegMethod.test_step``): features under the *test*
    extraction settings (validation images stand in for test images), resized_hw and the
    original-resolution label, so validation mIoU is computed exactly as test mIoU."""
    if context.test_store is None:
        raise InputError("validation items need the context's test_store (the test extraction settings)")
    if context.cross_dataset:  # the test store caches the test dataset's images only
        raise ConfigError(
            f"tuning on support from another dataset (support_dataset={context.support_spec.key}) is "
            "not supported: tune on the in-domain support, or run rows that need no tuning"
        )
    dense = context.test_store.get(
        list(image_ids), context.reader.read_image, desc="validation features", entry_name=context.reader.image_digest
    )
    return [
        {
            "image_id": image_id,
            "features": features.features,
            "resized_hw": features.resized_hw,
            "label": torch.from_numpy(context.reader.read_label(image_id).astype(np.int64)),
        }
        for image_id, features in zip(image_ids, dense, strict=True)
    ]


def support_of(
    context: RunContext, image_ids: Sequence[str], partial: PartialSupport, with_pixels: bool
) -> tuple[SupportBank, list[SupportPixels] | None]:
    """The bank of ``image_ids`` with the rows of classes without images dropped (rns spec §5: "their
    bank rows are dropped after sampling") and, for methods that train on pixels, pixel-level support
    with those classes' pixels ignored. The one way a run -- evaluated or tuned -- gets its support."""
    bank = context.build_bank(tuple(image_ids))
    if partial.no_images:
        bank = bank.without_classes(list(partial.no_images))
    pixels = support_pixels(context, image_ids, partial.no_images) if with_pixels else None
    return bank, pixels


def adapted_context(
    method: SegMethod,
    context: RunContext,
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    work_dir: Path | None = None,
) -> RunContext:
    """``context`` under the encoder ``method`` adapts to the support ``images`` (finetune baselines); an
    adaptation the context's ``adapted_encoders`` already holds is reused, with its features."""
    short_side = context.support_store.short_side
    encoder = method.adapt_encoder(context.backbone, images, labels, short_side, work_dir, context.adapted_encoders)
    return context.with_backbone(encoder)
