"""Zero-shot: text features only, the floor of every table (competitors.md, rns spec §5 last row)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rns_bench.core.errors import InputError
from rns_bench.methods.base import SegMethod
from rns_bench.methods.registry import METHODS
from rns_bench.support.text import TextSupport

ZERO_SHOT_LOGIT_SCALE = 100.0


def zero_shot_predict(
    queries: torch.Tensor, text: torch.Tensor, logit_scale: float = ZERO_SHOT_LOGIT_SCALE
) -> torch.Tensor:
    """(N, D) queries, (K, D) unit-norm text → (N, K) softmax(scale · q·tᵀ)."""
    return torch.softmax(logit_scale * queries @ text.T, dim=-1)


@dataclass(frozen=True)
class ZeroShotConfig:
    logit_scale: float = ZERO_SHOT_LOGIT_SCALE  # CLIP's: softmax(100 · cosine)


@METHODS.register("zero_shot")
class ZeroShot(SegMethod):
    options_class = ZeroShotConfig
    reads_support = False  # text only: one evaluation serves every shots and seed

    @property
    def reads_text(self) -> bool:
        return True

    def on_support_changed(self) -> None:
        if self.text is None:
            raise InputError("zero_shot needs text features; it has nothing else to predict from")

    def predict_probs(self, queries: list[torch.Tensor], image_ids: list[str]) -> list[torch.Tensor]:
        # Partial textual support: zero-shot sees the text RNS sees, a missing name replaced by the
        # normalised mean of the available ones (rns spec §5), not the full class list.
        text = TextSupport.from_features(self.text, self.text_available).features.to(queries[0])
        return [zero_shot_predict(q, text, self.config.logit_scale) for q in queries]
