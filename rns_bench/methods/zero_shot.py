"""The zero-shot floor: text features only (competitors.md, rns spec §5 last row)."""

from __future__ import annotations

import torch

ZERO_SHOT_LOGIT_SCALE = 100.0


def zero_shot_predict(
    queries: torch.Tensor, text: torch.Tensor, logit_scale: float = ZERO_SHOT_LOGIT_SCALE
) -> torch.Tensor:
    """(N, D) queries, (K, D) unit-norm text → (N, K) softmax(scale · q·tᵀ)."""
    return torch.softmax(logit_scale * queries @ text.T, dim=-1)
