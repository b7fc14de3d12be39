"""The objective of a tuning trial (paper supp. 6.4): the method row with the trial's parameters,
trained on the train part of the support set, scored by validation mIoU.

The validation mIoU is ``DatasetIoU``, as the test metric, on the held-out support images. Methods
with a ``fit_head(report, report_every)`` (the offline linear baselines) report the validation
mIoU every ``report_every`` iterations, so a ``MedianPruner`` can stop hopeless trials early;
finetuning (``needs_support_images``) trains the encoder inside Lightning's ``fit`` and is
scored once, on validation features re-extracted with the trial's finetuned encoder.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
import torch

from rns_bench.core.errors import InputError
from rns_bench.methods import SegMethod, build_method
from rns_bench.metrics import DatasetIoU
from rns_bench.support.bank import SupportBank
from rns_bench.support.pixels import SupportPixels
from rns_bench.tuning.study import ParamSpace

AdaptedSupport = Callable[[SegMethod], tuple[SupportBank, list[SupportPixels], list[dict[str, Any]]]]
"""For methods with ``needs_support_images``: adapt the encoder through the built method on the
train images, then return (train bank, train pixels, validation items) under that encoder."""


@dataclass
class TuningProblem:
    """What one support set's trials share: the method row, train support and validation items.

    train_bank / train_pixels: support from the train images (pixels only for methods with
    ``needs_support_pixels``); val_items: dicts shaped like test items (``features`` (h, w, D),
    ``resized_hw``, ``label`` (H, W) original resolution); adapted_support: replaces all three
    per trial for methods that adapt the encoder (finetuning; their train_bank is then None).
    """

    method: str
    class_names: list[str]
    patch_size: int
    train_bank: SupportBank | None
    val_items: list[dict[str, Any]]
    text: torch.Tensor | None = None
    text_available: torch.Tensor | None = None
    train_pixels: list[SupportPixels] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    report_every: int = 0  # iterations between intermediate values (0: none)
    adapted_support: AdaptedSupport | None = None

    def build(self, params: Mapping[str, Any]) -> tuple[SegMethod, list[dict[str, Any]]]:
        """The method with the row's options and ``params`` on top, given the train support, and
        the validation items to score it on."""
        method = build_method(
            self.method, self.class_names, self.patch_size, {**self.options, **params}, query_mode="patch"
        )  # tuning runs without mask proposals (supp. 6.4)
        bank, pixels, val_items = self.train_bank, self.train_pixels, self.val_items
        if method.needs_support_images:
            if self.adapted_support is None:
                raise InputError(
                    f"method {self.method!r} adapts the encoder to its support images; "
                    "the tuning problem has no adapted_support"
                )
            bank, pixels, val_items = self.adapted_support(method)
        method.attach_support(bank, self.text, self.text_available)
        if method.needs_support_pixels:
            if pixels is None:
                raise InputError(f"method {self.method!r} trains on support pixels; the tuning problem has none")
            method.attach_support_pixels(pixels)
        return method, val_items


def validation_miou(
    method: SegMethod, items: Sequence[dict[str, Any]], predict: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> float:
    """Dataset-level mIoU of ``method`` on ``items`` (``predict``: (N, D) → (N, K) probabilities,
    default the method's own ``predict_probs``)."""
    metric = DatasetIoU(method.num_classes)
    for item in items:
        queries = method.queries_of(item)
        probs = predict(queries) if predict is not None else method.predict_probs([queries], [item["image_id"]])[0]
        metric.update(method.label_map_of(item, probs), item["label"])
    miou = float(metric.compute()["mIoU"])
    return 0.0 if math.isnan(miou) else miou


def make_objective(problem: TuningProblem, space: Sequence[ParamSpace]) -> Callable[[optuna.Trial], float]:
    """Optuna objective: validation mIoU of the method trained with the trial's parameters."""

    def objective(trial: optuna.Trial) -> float:
        method, val_items = problem.build({p.name: p.suggest(trial) for p in space})
        fit_head = getattr(method, "fit_head", None)
        if fit_head is not None and problem.report_every > 0 and not method.needs_support_images:

            def report(step: int, head: Any) -> None:
                trial.report(validation_miou(method, val_items, head.probs), step)
                if trial.should_prune():
                    raise optuna.TrialPruned()

            fit_head(report, problem.report_every)
        return validation_miou(method, val_items)

    return objective
