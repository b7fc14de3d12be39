"""Text features with missing names (rns spec §5, partial textual support)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class TextSupport:
    """Text features as RNS sees them (spec §5, partial textual support).

    features: (K, D) unit-norm; missing names are already replaced by the normalised
    mean of the available ones. complete: False when any class name is missing.
    """

    features: torch.Tensor
    complete: bool

    @classmethod
    def from_features(cls, text: torch.Tensor, available: torch.Tensor | None = None) -> TextSupport:
        if available is None or bool(available.all()):
            return cls(text, complete=True)
        filler = F.normalize(text[available].mean(dim=0), dim=-1)
        return cls(torch.where(available.unsqueeze(1), text, filler), complete=False)
