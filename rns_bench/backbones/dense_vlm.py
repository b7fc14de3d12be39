"""What the wrapped vision-language backbones share (clip_*, siglip2_*, dinov3_txt): device
placement, pixel normalisation, the dense features' unit norm and template-ensembled text.
Subclasses implement :meth:`dense_tokens` (and :meth:`encode_prompts` when the model does not
follow open_clip's ``tokenizer(prompts)`` → ``model.encode_text(tokens)`` convention).

Input contract (backbones/base.py): (B, 3, H, W) float RGB in [0, 1], H and W any multiples of
the patch size (sliding-window crops of any size); normalisation by the model's mean/std happens
here, so callers never normalise.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from rns_bench.backbones.base import Backbone
from rns_bench.backbones.prompts import ensemble_text_features, openai_imagenet_templates
from rns_bench.core.errors import InputError

if TYPE_CHECKING:
    from rns_bench.backbones.open_clip_loading import Tokenizer


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` → this process's GPU when CUDA is available (``LOCAL_RANK``, which Lightning's
    DDP launcher and torchrun set, so ranks do not all extract on GPU 0), else CPU; anything else
    as torch reads it."""
    if str(device) == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    return torch.device(device)


def check_image_batch(backbone: str, images: torch.Tensor, patch_size: int) -> None:
    """(B, 3, H, W) with H, W positive multiples of ``patch_size``, else an InputError saying so."""
    if (
        images.ndim != 4
        or images.shape[1] != 3
        or images.shape[2] == 0
        or images.shape[3] == 0
        or images.shape[2] % patch_size
        or images.shape[3] % patch_size
    ):
        raise InputError(
            f"{backbone} expects (B, 3, H, W) float RGB in [0, 1] with H, W multiples of "
            f"{patch_size}, got {tuple(images.shape)}; pad the images right/bottom first"
        )


class DenseVLM(Backbone):
    """A wrapped vision-language ``model`` behind the Backbone interface: eval mode, frozen, on ``device``."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Tokenizer,
        mean: Sequence[float],
        std: Sequence[float],
        patch_size: int,
        dim: int,
        device: str | torch.device = "auto",
    ):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.patch_size, self.dim = int(patch_size), int(dim)
        self.templates = openai_imagenet_templates()
        self.register_buffer("pixel_mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.to(resolve_device(device))

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] → (B, D, H/p, W/p) unit-norm features, on the model's device."""
        check_image_batch(self.name, images, self.patch_size)
        pixels = (images.to(self.device, torch.float32) - self.pixel_mean) / self.pixel_std
        tokens = self.dense_tokens(pixels)
        return F.normalize(tokens.float(), dim=-1).permute(0, 3, 1, 2).contiguous()

    @abstractmethod
    def dense_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised pixels → (B, H/p, W/p, D) patch features in the joint space."""

    @torch.no_grad()
    def encode_text(self, class_names: list[str]) -> torch.Tensor:
        """K class names → (K, D) unit-norm template-ensembled text features (features.md)."""
        return ensemble_text_features(self.encode_prompts, class_names, self.templates)

    @torch.no_grad()
    def encode_prompts(self, prompts: list[str]) -> torch.Tensor:
        """P prompts, used verbatim → (P, D) text-tower embeddings (not normalised); open_clip's convention."""
        tokens = self.tokenizer(prompts).to(self.device)
        return self.model.encode_text(tokens).float()
