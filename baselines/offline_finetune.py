"""Offline finetuning baseline (competitors spec, item 3; paper Fig. 6): the vision encoder's
weights and a linear head trained on the support images' pixel labels, as a genuine Lightning
``fit`` (its loops, checkpointing and precision). The finetuned encoder then replaces the
frozen one for the whole run: ``finetune`` predicts with the trained head, ``finetune_rns``
feeds the finetuned features to RNS (the paper's best offline variant).

Methods see features, never pixels; these two set ``needs_support_images``: the runner gives
them the support images (``SegMethod.adapt_encoder``) *before* any feature of the run is
extracted, then extracts the run's support and test features with the finetuned encoder
(uncached: they belong to this support set alone). The loss is ``linear_patches``' (logits
upsampled to the label resolution, cross-entropy with ignore 255, classes without support
masked out).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from baselines.offline_linear import LinearHead, OfflineLinearMethod, init_linear, pixel_classes, pixel_loss
from rns_bench.backbones.base import Backbone
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.core.options import options_from_dict
from rns_bench.features.dense import device_of, padded_pixels
from rns_bench.methods.adapted import AdaptedEncoders
from rns_bench.methods.base import plain_values
from rns_bench.methods.registry import METHODS
from rns_bench.methods.rns_method import RNS
from rns_bench.ops.resize import resize_label
from rns_bench.support.pixels import SupportPixels


@dataclass(frozen=True)
class FinetuneConfig:
    """Finetuning options (typed; a typo fails). ``batch_size`` counts support images per step;
    ``precision`` is Lightning's (``32-true``, ``bf16-mixed``, ``16-mixed``)."""

    lr: float = 1e-2  # the linear head
    encoder_lr: float = 1e-4
    batch_size: int = 4
    steps: int = 100
    weight_decay: float = 1e-4
    precision: str = "32-true"
    accelerator: str = "auto"
    init_seed: int = 0
    keep_checkpoint: bool = False  # Lightning's last.ckpt in the run's work dir (a ViT-L one is GBs)

    def __post_init__(self) -> None:
        if not (self.lr > 0 and self.encoder_lr >= 0 and self.batch_size >= 1 and self.steps >= 1):
            raise ConfigError(f"finetuning needs lr > 0, encoder_lr ≥ 0, batch_size ≥ 1, steps ≥ 1 (got {self})")


# ----------------------------------------------------------------------------- data


class SupportImages(Dataset):
    """Support images prepared as the feature extractor sees them (protocol §3): resized
    keep-ratio, padded right/bottom to the patch size; labels resized (nearest) to the unpadded size.

    Items: (image (3, H_p, W_p) float in [0, 1], label (H, W) long, 255 = ignore).
    """

    def __init__(
        self, images: Sequence[np.ndarray], labels: Sequence[np.ndarray], patch_size: int, short_side: int | None
    ):
        self.items = []
        for image, label in zip(images, labels, strict=True):
            pixels, size = padded_pixels(image, short_side, patch_size)  # exactly as the extractor prepares it
            self.items.append((pixels, torch.from_numpy(resize_label(label, size).astype(np.int64))))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.items[index]


# ---------------------------------------------------------------------------- model


def trainable_encoder(backbone: Backbone) -> Backbone:
    """A trainable copy of ``backbone`` (``Backbone.trainable_copy``); :func:`encode` calls its
    ``encode_image`` without the ``no_grad`` wrapper (the maths are differentiable)."""
    encoder = backbone.trainable_copy()
    if not any(True for _ in encoder.parameters()):
        raise InputError(
            f"backbone {backbone.name!r} has no trainable weights to finetune "
            "(use the linear_patches baseline, or a backbone with weights)"
        )
    return encoder


def encode(encoder: Backbone, images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) → (B, D, h, w) unit-norm features, differentiable (gradients reach the encoder)."""
    return inspect.unwrap(type(encoder).encode_image)(encoder, images)


class EncoderFinetune(L.LightningModule):
    """Encoder + linear head, trained with ``linear_patches``' pixel loss through ``Trainer.fit``."""

    def __init__(self, encoder: Backbone, num_classes: int, supported: torch.Tensor, config: FinetuneConfig):
        super().__init__()
        self.encoder, self.config = encoder, config
        weight, bias = init_linear(num_classes, encoder.dim, torch.Generator().manual_seed(config.init_seed))
        self.head = torch.nn.Linear(encoder.dim, num_classes)
        with torch.no_grad():
            self.head.weight.copy_(weight)
            self.head.bias.copy_(bias)
        self.register_buffer("supported", supported)

    def training_step(self, batch: list[tuple[torch.Tensor, torch.Tensor]], batch_idx: int) -> torch.Tensor:
        # Images differ in size: one forward each; the loss averages over every labelled pixel.
        items = [
            SupportPixels(str(i), encode(self.encoder, image[None])[0].permute(1, 2, 0).float(), label)
            for i, (image, label) in enumerate(batch)
        ]
        loss = pixel_loss(items, self.head.weight, self.head.bias, self.supported, self.encoder.patch_size)
        self.log("finetune/loss", loss, batch_size=len(batch), prog_bar=False)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            [
                {"params": self.head.parameters(), "lr": self.config.lr},
                {"params": self.encoder.parameters(), "lr": self.config.encoder_lr},
            ],
            weight_decay=self.config.weight_decay,
        )

    def linear_head(self) -> LinearHead:
        return LinearHead(self.head.weight.detach().cpu(), self.head.bias.detach().cpu(), self.supported.cpu())


@dataclass
class Finetuned:
    """The result: a frozen backbone with the finetuned weights (extract test features with it)
    and the trained head (the ``finetune`` row's classifier)."""

    backbone: Backbone
    head: LinearHead
    checkpoint: Path | None


def finetune(
    backbone: Backbone,
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    num_classes: int,
    config: FinetuneConfig,
    short_side: int | None = None,
    root_dir: Path | None = None,
) -> Finetuned:
    """Finetune ``backbone`` + a linear head on support ``images`` (H, W, 3) uint8 and ``labels``
    (H, W) class ids (255 = ignore) with ``Trainer.fit``; checkpoints under ``root_dir`` (None: none).

    Seeded: the head init and the batch order come from ``config.init_seed``; the global RNG
    is forked, so nothing outside changes.
    """
    data = SupportImages(images, labels, backbone.patch_size, short_side)
    supported = pixel_classes([SupportPixels("", torch.empty(0), label) for _, label in data.items], num_classes)
    if not bool(supported.any()):
        raise InputError("no labelled support pixel to finetune on")
    module = EncoderFinetune(trainable_encoder(backbone), num_classes, supported, config)
    loader = DataLoader(
        data,
        batch_size=config.batch_size,
        shuffle=True,
        collate_fn=list,
        num_workers=0,
        generator=torch.Generator().manual_seed(config.init_seed),
    )
    callbacks = []
    if root_dir is not None:
        callbacks.append(
            L.pytorch.callbacks.ModelCheckpoint(dirpath=Path(root_dir) / "checkpoints", save_last=True, save_top_k=0)
        )
    accelerator, devices = trainer_device(config.accelerator, device_of(backbone))
    trainer = L.Trainer(
        max_steps=config.steps,
        accelerator=accelerator,
        devices=devices,
        precision=config.precision,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=root_dir is not None,
        callbacks=callbacks,
        default_root_dir=str(root_dir) if root_dir else None,
        deterministic=True,
    )
    deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.init_seed)
        try:
            trainer.fit(module, loader)
        finally:  # Lightning's deterministic=True is process-wide; the rest of the sweep keeps its own
            torch.use_deterministic_algorithms(deterministic)
    # Back where the frozen backbone lives: the run's features are extracted there.
    encoder = module.encoder.to(device_of(backbone)).eval().requires_grad_(False)
    checkpoint = Path(callbacks[0].last_model_path) if callbacks and callbacks[0].last_model_path else None
    return Finetuned(encoder, module.linear_head(), checkpoint)


def trainer_device(accelerator: str, backbone_device: torch.device) -> tuple[str, int | list[int]]:
    """Lightning's (accelerator, devices) for finetuning: the frozen backbone's own GPU when it has
    one and ``accelerator`` allows it (under DDP each rank finetunes on its GPU, not all on GPU 0)."""
    if backbone_device.type == "cuda" and accelerator in ("auto", "gpu", "cuda"):
        return "gpu", [backbone_device.index or 0]
    return accelerator, 1


def finetuned(
    backbone: Backbone,
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    num_classes: int,
    config: FinetuneConfig,
    short_side: int | None,
    work_dir: Path | None,
    encoders: AdaptedEncoders | None,
) -> Finetuned:
    """:func:`finetune`, with Lightning's checkpoint under ``work_dir`` if ``config.keep_checkpoint``; through
    ``encoders`` (the run context's) the same support images, labels, backbone and options train once:
    ``finetune`` and ``finetune_rns`` of one support set share the encoder."""
    root_dir = work_dir if config.keep_checkpoint else None

    def train() -> Finetuned:
        return finetune(backbone, images, labels, num_classes, config, short_side, root_dir)

    if encoders is None:
        return train()
    digest = hashlib.sha256()
    for array in (*images, *labels):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    key = ("finetune", digest.hexdigest(), num_classes, config, short_side, root_dir)
    return encoders.adapted(backbone, key, train)


# ------------------------------------------------------------------------ methods


@METHODS.register("finetune")
class Finetune(OfflineLinearMethod):
    """``finetune``: the head trained together with the encoder, applied to the finetuned
    encoder's test features (closed vocabulary, like every offline baseline). Options:
    :class:`FinetuneConfig`."""

    needs_support_images = True
    options_class = FinetuneConfig

    def __init__(self, class_names, patch_size, query_mode="patch", **options):
        super().__init__(class_names, patch_size, query_mode, **options)
        self.trained_head: LinearHead | None = None

    def adapt_encoder(
        self,
        backbone: Backbone,
        images: Sequence[np.ndarray],
        labels: Sequence[np.ndarray],
        short_side: int | None,
        work_dir: Path | None = None,
        encoders: AdaptedEncoders | None = None,
    ) -> Backbone:
        result = finetuned(backbone, images, labels, self.num_classes, self.config, short_side, work_dir, encoders)
        self.trained_head = result.head
        return result.backbone

    def _fit(self, report: Any, report_every: int) -> LinearHead:
        if self.trained_head is None:
            raise InputError(
                "finetune trains its head with the encoder: call adapt_encoder(backbone, support "
                "images, labels, short_side) first (the bench runner does)"
            )
        return self.trained_head


@METHODS.register("finetune_rns")
class FinetuneRNS(RNS):
    """``finetune + RNS`` (paper Fig. 6): RNS, open vocabulary, on the features of the encoder
    finetuned as in ``finetune`` (its head is discarded). Options: the finetuning ones
    (:class:`FinetuneConfig`, top level, so tuned ``finetune`` parameters apply unchanged) and
    ``rns: {...}`` (:class:`rns_bench.rns.config.RNSConfig`)."""

    needs_support_images = True

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {**plain_values(dataclasses.asdict(FinetuneConfig())), "rns": super().default_options()}

    def __init__(
        self, class_names, patch_size, query_mode="patch", rns: dict[str, Any] | None = None, **finetune_options
    ):
        super().__init__(class_names, patch_size, query_mode, **(rns or {}))
        self.finetune_config = options_from_dict(FinetuneConfig, finetune_options, "finetune")

    def adapt_encoder(
        self,
        backbone: Backbone,
        images: Sequence[np.ndarray],
        labels: Sequence[np.ndarray],
        short_side: int | None,
        work_dir: Path | None = None,
        encoders: AdaptedEncoders | None = None,
    ) -> Backbone:
        config = self.finetune_config
        return finetuned(backbone, images, labels, self.num_classes, config, short_side, work_dir, encoders).backbone
