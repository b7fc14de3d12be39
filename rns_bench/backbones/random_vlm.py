"""``random_vlm``: a tiny random-initialised backbone that accepts any image and class name.

For running real datasets end to end where no weights exist (tests, smoke runs on fake
data), like timm's ``test_*`` models: a fixed random 16×16 patch embedding of the pixels
and text features seeded by each name's bytes. Its numbers mean nothing; the code paths are
the real ones.
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F

from rns_bench.backbones.base import Backbone
from rns_bench.backbones.registry import BACKBONES
from rns_bench.core.errors import InputError

PATCH = 16


@BACKBONES.register("random_vlm")
class RandomVLM(Backbone):
    """Seeded random patch embedding (B, 3, H, W) → (B, D, H/16, W/16), names → (K, D); unit norm."""

    name = "random_vlm"
    patch_size = PATCH

    def __init__(self, seed: int = 0, dim: int = 32):
        super().__init__()
        self.dim, self.seed = dim, seed
        generator = torch.Generator().manual_seed(seed)
        self.embed = torch.nn.Conv2d(3, dim, PATCH, stride=PATCH)
        with torch.no_grad():
            self.embed.weight.copy_(torch.randn(self.embed.weight.shape, generator=generator) / PATCH)
            self.embed.bias.zero_()
        self.requires_grad_(False)

    @torch.no_grad()
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] % PATCH or images.shape[3] % PATCH:
            raise InputError(
                f"random_vlm expects (B, 3, H, W) with H, W multiples of {PATCH}, got {tuple(images.shape)}"
            )
        return F.normalize(self.embed(images.float() - 0.5), dim=1)

    @torch.no_grad()
    def encode_text(self, class_names: list[str]) -> torch.Tensor:
        rows = []
        for name in class_names:
            digest = hashlib.sha256(f"{self.seed}:{name}".encode()).digest()
            generator = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))
            rows.append(torch.randn(self.dim, generator=generator))
        return F.normalize(torch.stack(rows), dim=-1)
