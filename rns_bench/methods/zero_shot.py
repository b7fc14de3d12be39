"""Zero-shot: text features only, the floor of every table (competitors.md, rns spec §5 last row)."""

from __future__ import annotations

from typing import Any

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


@METHODS.register("zero_shot")
class ZeroShot(SegMethod):
    name = "zero_shot"
    reads_support = False  # text only: one evaluation serves every shots and seed

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {"logit_scale": ZERO_SHOT_LOGIT_SCALE}

    def __init__(self, class_names, patch_size, query_mode="patch", logit_scale: float = ZERO_SHOT_LOGIT_SCALE):
        super().__init__(class_names, patch_size, query_mode)
        self.logit_scale = logit_scale

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
        return [zero_shot_predict(q, text, self.logit_scale) for q in queries]
