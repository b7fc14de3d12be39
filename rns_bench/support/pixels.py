"""Pixel-level support: one annotated support image as features + labels, dropping classes from it,
pooling a bank from it, and the 85 / 15 train / validation split of support images (tuning).

Labels follow the bank's conventions: resized to the features' resolution, 255 = ignore.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from rns_bench.core.errors import InputError
from rns_bench.core.labels import IGNORE_INDEX
from rns_bench.support.bank import SupportBank


@dataclass(frozen=True)
class SupportPixels:
    """One pixel-annotated support image, for methods that train on pixel labels.

    features: (h, w, D) unit-norm patch features on the padded patch grid;
    label: (H, W) long class ids at the resized (unpadded) resolution the features were
    extracted at, H ≤ h·patch_size, W ≤ w·patch_size; 255 = ignore.
    """

    image_id: str
    features: torch.Tensor
    label: torch.Tensor


def drop_label_classes(label: torch.Tensor, classes: Sequence[int]) -> torch.Tensor:
    """(H, W) label map with the pixels of ``classes`` set to ignore (partial visual support, spec §5)."""
    if not len(classes):
        return label
    dropped = torch.isin(label, torch.as_tensor(list(classes), dtype=label.dtype))
    return label.masked_fill(dropped, IGNORE_INDEX)


def bank_of_pixels(items: Sequence[SupportPixels], num_classes: int, patch_size: int) -> SupportBank:
    """The support bank pooled from pixel-level support (the same rows as ``RunContext.build_bank``)."""
    if not items:
        raise InputError("no support images to build a bank from")
    bank = SupportBank(num_classes, items[0].features.shape[-1])
    for item in items:
        bank.add_image(item.image_id, item.features, item.label, patch_size)
    return bank


def split_support(image_ids: Sequence[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded train / validation split of the support images themselves (paper supp. 6.4: 85 / 15).

    At least one image on each side; the order of each side follows ``image_ids``.
    """
    if not 0.0 < val_fraction < 1.0:
        raise InputError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    if len(image_ids) < 2:
        raise InputError(
            f"a support set of {len(image_ids)} image(s) cannot be split into train and validation; "
            "tuning needs at least 2 support images"
        )
    num_val = min(max(1, round(val_fraction * len(image_ids))), len(image_ids) - 1)
    order = torch.randperm(len(image_ids), generator=torch.Generator().manual_seed(seed)).tolist()
    val = set(order[:num_val])
    return ([i for n, i in enumerate(image_ids) if n not in val], [i for n, i in enumerate(image_ids) if n in val])
