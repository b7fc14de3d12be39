"""RNS (Retrieve and Segment) as pure functions on features — usable on anyone's features.

from rns_bench.support.bank import SupportBank
from rns_bench.rns import RNSConfig, predict

bank = SupportBank(num_classes=K, dim=D)
bank.add_image("img1", feats_hwD, label_map_HW, patch_size=16)
probs = predict(queries_ND, bank, text_KD)            # (N, K)
probs = predict([q1, q2, q3], bank, text_KD)         # one classifier per image, trained together
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rns_bench.core.errors import InputError
from rns_bench.core.timing import timed
from rns_bench.rns.classifier import train_classifiers
from rns_bench.rns.config import RNSConfig
from rns_bench.rns.training_set import TrainingSet, build_training_set
from rns_bench.support.bank import SupportBank, check_features
from rns_bench.support.text import TextSupport


def predict(
    queries: torch.Tensor | Sequence[torch.Tensor],
    bank: SupportBank,
    text: torch.Tensor | None,
    config: RNSConfig = RNSConfig(),
    *,
    text_available: torch.Tensor | None = None,
    seeds: Sequence[int] | None = None,
    timings: dict[str, float] | None = None,
) -> torch.Tensor | list[torch.Tensor]:
    """Class probabilities for the queries of one image (N, D) or of several images.

    bank: the support bank (partial visual support = a bank without those classes' rows).
    text: (K, D) unit-norm class text features, or None for the w/o-text setting.
    text_available: (K,) bool, False for classes without a name (partial textual support).
    seeds: one classifier-init seed per image (default ``config.init_seed`` for all).
    timings: seconds are added under "training_set", "training" (the test-time training) and
    "prediction" (GPU-synchronised), when given.
    Returns (N, K) probabilities, or a list of them when given a list of images.
    """
    single = isinstance(queries, torch.Tensor)
    images = [queries] if single else list(queries)
    seeds = list(seeds) if seeds is not None else [config.init_seed] * len(images)
    text_support = validate_inputs(images, bank, text, text_available, len(seeds))
    totals = timings if timings is not None else {}
    with timed(totals, "training_set"):
        sets = training_sets(images, bank, text_support, config, seeds)
    with timed(totals, "training"):
        weight, bias = train_classifiers(sets, seeds, config)
    with timed(totals, "prediction"):
        probs = [torch.softmax(q @ weight[i].T + bias[i], dim=-1) for i, q in enumerate(images)]
    return probs[0] if single else probs


def training_sets(
    images: list[torch.Tensor],
    bank: SupportBank,
    text: TextSupport | None,
    config: RNSConfig,
    seeds: list[int],
) -> list[TrainingSet]:
    """The training set of each image (exposed for tests and diagnostics)."""
    device = images[0].device
    bank_features, bank_labels = bank.features.to(device), bank.labels.to(device)
    prototypes, supported = bank.prototypes.to(device), bank.supported.to(device)
    if text is not None:
        text = TextSupport(text.features.to(device), text.complete)
    return [
        build_training_set(
            q, bank_features, bank_labels, prototypes, supported, text, config, torch.Generator().manual_seed(seed)
        )
        for q, seed in zip(images, seeds, strict=True)
    ]


def validate_inputs(
    images: list[torch.Tensor],
    bank: SupportBank,
    text: torch.Tensor | None,
    text_available: torch.Tensor | None,
    num_seeds: int,
) -> TextSupport | None:
    """Clear errors for inputs RNS cannot use; returns the text as RNS sees it."""
    if not images:
        raise InputError("no query images given")
    if num_seeds != len(images):
        raise InputError(f"{num_seeds} seeds for {len(images)} images; give one seed per image")
    bank.require_rows()
    for index, q in enumerate(images):
        if q.ndim != 2 or q.shape[1] != bank.dim:
            raise InputError(f"queries of image {index} have shape {tuple(q.shape)}; expected (N, {bank.dim})")
        check_features(q, f"query features of image {index}")
    if text is None:
        return None
    if text.shape != (bank.num_classes, bank.dim):
        raise InputError(
            f"text features have shape {tuple(text.shape)}; expected (K, D) = "
            f"({bank.num_classes}, {bank.dim}): one row per class, same dim as the images"
        )
    check_features(text, "text features")
    if text_available is not None:
        if text_available.shape != (bank.num_classes,):
            raise InputError(f"text_available has shape {tuple(text_available.shape)}; expected ({bank.num_classes},)")
        if not bool(text_available.any()):
            raise InputError("text_available is all False; use text=None for the w/o-text setting")
    return TextSupport.from_features(text.float(), text_available)


__all__ = ["RNSConfig", "SupportBank", "TextSupport", "predict", "training_sets"]
