"""What every backbone offers: dense unit-norm patch features and unit-norm text features."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod

import torch


class Backbone(ABC, torch.nn.Module):
    """A vision-language model seen through the two calls the benchmark needs.

    Subclasses set ``name`` (the registry key), ``patch_size`` (pixels per patch side) and
    ``dim`` (feature dimension D).
    """

    name: str
    patch_size: int
    dim: int

    @abstractmethod
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float RGB in [0, 1], H and W multiples of ``patch_size``
        → (B, D, H / patch_size, W / patch_size) features, unit-norm along D."""

    def trainable_copy(self) -> Backbone:
        """A copy whose weights train (the finetune baselines); the original stays frozen.

        Backbones whose learnable maps are buffers (the synthetic one) override this to turn
        them into parameters.
        """
        return copy.deepcopy(self).requires_grad_(True)

    def provenance(self) -> dict[str, str | None]:
        """Where this backbone's code comes from when it is not a pinned package (e.g. the commit
        of a local source checkout): written into every record and part of the feature-cache key."""
        return {}

    @abstractmethod
    def encode_text(self, class_names: list[str]) -> torch.Tensor:
        """K class names (used verbatim) → (K, D) text features, unit-norm rows."""
