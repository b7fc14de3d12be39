"""Offline, closed-vocabulary linear baselines (competitors spec "Offline, closed-vocabulary
baselines"; paper Fig. 6 and supplementary 6.4).

* ``linear_class_features`` — a linear classifier on the support bank's rows (per-image
  class features v_{i,c}) and their labels.
* ``linear_patches`` — a linear classifier on support patch features with pixel-level labels:
  logits on the patch grid are upsampled bilinearly to the label resolution and the
  cross-entropy (ignore 255) is applied there.

Both are trained once per support set (lazily, at the first prediction after the support
changed) with a seeded AdamW loop on features; learning rate, batch size and number of
steps are the options Optuna tunes (``rns_bench.tuning``). They lose the open vocabulary:
a class without visual support gets probability exactly 0 and is never predicted; the run
record lists such classes under ``metrics.unpredictable_classes``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.core.labels import IGNORE_INDEX
from rns_bench.methods.base import SegMethod
from rns_bench.methods.registry import METHODS
from rns_bench.support.pixels import SupportPixels

# ----------------------------------------------------------------------------- options


@dataclass(frozen=True)
class LinearTrainConfig:
    """Training of an offline linear head; every field is a method option (a typo fails).

    lr: AdamW learning rate; batch_size: training items per step (bank rows, or support
    images for ``linear_patches``; ≥ the number of items = full batch); steps: optimiser
    steps; weight_decay: AdamW decoupled weight decay; init_seed: seeds the init and the
    batch draws, so a head is a deterministic function of its support and options.
    """

    lr: float = 1e-2
    batch_size: int = 64
    steps: int = 300
    weight_decay: float = 1e-4
    init_seed: int = 0

    def __post_init__(self) -> None:
        if not (self.lr > 0 and self.batch_size >= 1 and self.steps >= 1 and self.weight_decay >= 0):
            raise ConfigError(
                f"offline linear training needs lr > 0, batch_size ≥ 1, steps ≥ 1 and weight_decay ≥ 0 (got {self})"
            )


@dataclass(frozen=True)
class LinearPatchesConfig(LinearTrainConfig):
    """As :class:`LinearTrainConfig`; a batch is ``batch_size`` support images (all their pixels)."""

    lr: float = 0.1  # toy, B = 1 / 5 (seed 100): 61.5 / 71.5 test mIoU; 1e-2 gave 26.0 / 36.5
    batch_size: int = 8
    steps: int = 200


# ------------------------------------------------------------------------ linear head


@dataclass(frozen=True)
class LinearHead:
    """weight (K, D), bias (K,) and supported (K,) bool: the classes the head may predict."""

    weight: torch.Tensor
    bias: torch.Tensor
    supported: torch.Tensor

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D) features → (N, K) logits, −inf for classes without support."""
        return masked_logits(x @ self.weight.T.to(x) + self.bias.to(x), self.supported.to(x.device), dim=-1)

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D) features → (N, K) probabilities; exactly 0 for classes without support."""
        return self.logits(x).softmax(dim=-1)


def masked_logits(logits: torch.Tensor, supported: torch.Tensor, dim: int) -> torch.Tensor:
    """Set the logits of unsupported classes (along ``dim``) to −inf: closed vocabulary."""
    shape = [1] * logits.ndim
    shape[dim] = -1
    return logits.masked_fill(~supported.reshape(shape), float("-inf"))


def init_linear(num_classes: int, dim: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``nn.Linear``'s init (uniform ±1/√D) drawn from ``generator``: (K, D) weight, (K,) bias."""
    bound = 1.0 / math.sqrt(dim)
    weight = (torch.rand(num_classes, dim, generator=generator) * 2 - 1) * bound
    bias = (torch.rand(num_classes, generator=generator) * 2 - 1) * bound
    return weight, bias


Reporter = Callable[[int, LinearHead], None]
"""Called as ``report(step, head)`` every ``report_every`` steps (Optuna's intermediate values;
it may raise ``optuna.TrialPruned`` to stop the training)."""


def fit_linear(
    batch_loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    num_items: int,
    num_classes: int,
    dim: int,
    supported: torch.Tensor,
    config: LinearTrainConfig,
    report: Reporter | None = None,
    report_every: int = 0,
) -> LinearHead:
    """Seeded mini-batch AdamW on a linear head.

    batch_loss(item_indices (b,), weight (K, D), bias (K,)) → scalar loss of those items.
    Each step draws ``min(batch_size, num_items)`` distinct items; a batch as large as the
    support is the full batch (and then no draw is made).
    """
    generator = torch.Generator().manual_seed(config.init_seed)
    weight, bias = init_linear(num_classes, dim, generator)
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    optimizer = torch.optim.AdamW([weight, bias], lr=config.lr, weight_decay=config.weight_decay)
    everything = torch.arange(num_items)
    for step in range(1, config.steps + 1):
        batch = (
            everything
            if config.batch_size >= num_items
            else torch.randperm(num_items, generator=generator)[: config.batch_size]
        )
        optimizer.zero_grad(set_to_none=True)
        batch_loss(batch, weight, bias).backward()
        optimizer.step()
        if report is not None and report_every > 0 and step % report_every == 0:
            report(step, LinearHead(weight.detach().clone(), bias.detach().clone(), supported))
    return LinearHead(weight.detach(), bias.detach(), supported)


# ------------------------------------------------------------------- class features


def fit_on_rows(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    config: LinearTrainConfig,
    report: Reporter | None = None,
    report_every: int = 0,
) -> LinearHead:
    """Linear classifier on per-image class features: features (R, D), labels (R,) → head.

    Classes without a row are masked out (−inf logits) in training and prediction.
    """
    if len(labels) == 0:
        raise InputError("no support rows to train the linear classifier on (empty support bank)")
    supported = torch.bincount(labels, minlength=num_classes) > 0

    def batch_loss(batch: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        logits = masked_logits(features[batch] @ weight.T + bias, supported, dim=-1)
        return F.cross_entropy(logits, labels[batch])

    return fit_linear(batch_loss, len(labels), num_classes, features.shape[-1], supported, config, report, report_every)


# -------------------------------------------------------------------- patch features


def upsample_logits(grid_logits: torch.Tensor, patch_size: int, label_hw: tuple[int, int]) -> torch.Tensor:
    """(K, h, w) patch-grid logits → (K, H, W) at the label resolution.

    Bilinear ×patch_size to the padded size, then crop to the label (the resized, unpadded
    image) — the prediction path of spec §7 (``patch_probs_to_label_map``), so training sees
    the same upsampling as evaluation (align_corners=False, as mmseg). Computed as the separable
    product A_h · logits · A_wᵀ with the interpolation matrices of ``F.interpolate``: the same
    numbers, and a backward pass several times faster on CPU than ``upsample_bilinear2d``'s.
    """
    _, h, w = grid_logits.shape
    if label_hw[0] > h * patch_size or label_hw[1] > w * patch_size:
        raise InputError(
            f"label map {tuple(label_hw)} is larger than the padded feature grid "
            f"{(h * patch_size, w * patch_size)}; labels must be at the features' resized resolution"
        )
    rows = interpolation_matrix(h * patch_size, h)[: label_hw[0]].to(grid_logits)
    cols = interpolation_matrix(w * patch_size, w)[: label_hw[1]].to(grid_logits)
    return (rows @ grid_logits) @ cols.T


@functools.lru_cache(maxsize=256)
def interpolation_matrix(out_size: int, in_size: int) -> torch.Tensor:
    """(out_size, in_size) weights of 1-D linear resizing as ``F.interpolate(mode="bilinear",
    align_corners=False)`` applies it along one axis (read off by resizing the identity)."""
    identity = torch.eye(in_size, dtype=torch.float64)[None, None]
    return F.interpolate(identity, size=(out_size, in_size), mode="bilinear", align_corners=False)[0, 0].float()


def pixel_loss(
    items: Sequence[SupportPixels], weight: torch.Tensor, bias: torch.Tensor, supported: torch.Tensor, patch_size: int
) -> torch.Tensor:
    """Mean cross-entropy over every labelled pixel of ``items`` at the label resolution.

    Masking comes after the upsampling: bilinear weights of 0 times −inf would give NaN, and
    a per-class mask commutes with the spatial interpolation anyway.
    """
    total = weight.new_zeros(())
    count = 0
    for item in items:
        h, w, dim = item.features.shape
        grid = (item.features.reshape(-1, dim) @ weight.T + bias).T.reshape(-1, h, w)
        logits = masked_logits(upsample_logits(grid, patch_size, tuple(item.label.shape)), supported, dim=0)
        total = total + F.cross_entropy(
            logits.unsqueeze(0), item.label.unsqueeze(0), ignore_index=IGNORE_INDEX, reduction="sum"
        )
        count += int((item.label != IGNORE_INDEX).sum())
    return total / max(count, 1)


def pixel_classes(items: Sequence[SupportPixels], num_classes: int) -> torch.Tensor:
    """(K,) bool: classes with at least one labelled support pixel."""
    present = torch.zeros(num_classes, dtype=torch.bool)
    for item in items:
        values = item.label[item.label != IGNORE_INDEX].unique()
        if len(values) and int(values.max()) >= num_classes:
            raise InputError(
                f"support image {item.image_id!r}: label {int(values.max())} ≥ number of classes {num_classes}"
            )
        present[values] = True
    return present


def fit_on_pixels(
    items: Sequence[SupportPixels],
    num_classes: int,
    patch_size: int,
    config: LinearTrainConfig,
    report: Reporter | None = None,
    report_every: int = 0,
) -> LinearHead:
    """Linear classifier on patch features with pixel labels; a batch is a set of support images."""
    supported = pixel_classes(items, num_classes)
    if not bool(supported.any()):
        raise InputError("no labelled support pixel to train linear_patches on (all labels 255?)")
    items = [SupportPixels(i.image_id, i.features.float(), i.label.long()) for i in items]

    def batch_loss(batch: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return pixel_loss([items[i] for i in batch.tolist()], weight, bias, supported, patch_size)

    return fit_linear(
        batch_loss, len(items), num_classes, items[0].features.shape[-1], supported, config, report, report_every
    )


# -------------------------------------------------------------------------- methods


class OfflineLinearMethod(SegMethod):
    """Shared by the offline linear heads: typed options, lazy training, closed vocabulary."""

    options_class: type[LinearTrainConfig] = LinearTrainConfig
    open_vocabulary = False  # a head trained on the K classes: class changes mean training again

    def __init__(self, class_names, patch_size, query_mode="patch", **options):
        super().__init__(class_names, patch_size, query_mode, **options)
        self.head: LinearHead | None = None

    def on_support_changed(self) -> None:
        # Train at the first prediction: the bank and (for pixel methods) the pixels arrive in
        # separate calls, in either order, and a head trained on half of them would be wasted.
        self.head = None

    def fit_head(self, report: Reporter | None = None, report_every: int = 0) -> LinearHead:
        """Train the head on the current support (``report`` as in :func:`fit_linear`)."""
        with torch.inference_mode(False), torch.enable_grad():  # Trainer.test runs in inference mode
            self.head = self._fit(report, report_every)
        return self.head

    def _fit(self, report: Reporter | None, report_every: int) -> LinearHead:
        raise NotImplementedError

    def predict_probs(self, queries: list[torch.Tensor], image_ids: list[str]) -> list[torch.Tensor]:
        head = self.head if self.head is not None else self.fit_head()
        return [head.probs(q.float()) for q in queries]

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        if self.head is not None:  # closed vocabulary: say which classes can never be predicted
            self.results["unpredictable_classes"] = [
                name for name, ok in zip(self.class_names, self.head.supported.tolist(), strict=True) if not ok
            ]


@METHODS.register("linear_class_features")
class LinearClassFeatures(OfflineLinearMethod):
    """Linear classifier on the bank rows (per-image class features) and their labels."""

    def _fit(self, report: Reporter | None, report_every: int) -> LinearHead:
        self.bank.require_rows()
        return fit_on_rows(
            self.bank.features.float(), self.bank.labels, self.num_classes, self.config, report, report_every
        )


@METHODS.register("linear_patches")
class LinearPatches(OfflineLinearMethod):
    """Linear classifier on support patch features with pixel labels at the label resolution."""

    needs_support_pixels = True
    options_class = LinearPatchesConfig

    def _fit(self, report: Reporter | None, report_every: int) -> LinearHead:
        if not self.support_pixels:
            raise InputError(
                "linear_patches trains on support pixels: call attach_support_pixels(items) "
                "(rns_bench.runs.support.support_pixels builds them from a dataset)"
            )
        return fit_on_pixels(self.support_pixels, self.num_classes, self.patch_size, self.config, report, report_every)
