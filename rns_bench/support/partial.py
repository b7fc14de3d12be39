"""The partial-support protocol (rns spec §5): which classes a run has no images or no names for."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def dropped_classes(num_classes: int, fraction: float, seed: int) -> list[int]:
    """The first int(f·K) classes of the seeded permutation (rns spec §5; the same
    permutation for visual and textual drops, as the released code)."""
    order = torch.randperm(num_classes, generator=torch.Generator().manual_seed(seed))
    return order[: int(fraction * num_classes)].tolist()


@dataclass(frozen=True)
class PartialSupport:
    """The classes of one run (K classes, support seed) without support images and without names."""

    num_classes: int
    no_images: tuple[int, ...] = ()
    no_names: tuple[int, ...] = ()

    @classmethod
    def of(cls, num_classes: int, visual_fraction: float, text_fraction: float, seed: int) -> PartialSupport:
        return cls(
            num_classes,
            tuple(dropped_classes(num_classes, visual_fraction, seed)),
            tuple(dropped_classes(num_classes, text_fraction, seed)),
        )

    @property
    def text_available(self) -> torch.Tensor | None:
        """(K,) bool, False for the classes without a name; None when every name is there."""
        if not self.no_names:
            return None
        available = torch.ones(self.num_classes, dtype=torch.bool)
        available[list(self.no_names)] = False
        return available
