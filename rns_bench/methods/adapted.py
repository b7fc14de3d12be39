"""Encoders adapted to a run's support images (the finetune baselines, ``SegMethod.adapt_encoder``), kept
for the next row that asks for the same adaptation. A run context owns one
(``rns_bench.runs.context.RunContext.adapted_encoders``) and hands it to ``adapt_encoder``; a method
called without one adapts afresh."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from rns_bench.backbones.base import Backbone

T = TypeVar("T")


class AdaptedEncoders:
    """The last adapted encoder, and what was built to extract with it, reused while the same adaptation
    comes again: ``finetune`` and ``finetune_rns`` of one support set train one encoder (the sweep runs a
    support set's rows one after another). One entry only: a finetuned ViT-L is gigabytes."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget the adapted encoder and what extracts with it (freeing them)."""
        self._source: Backbone | None = None  # the backbone adapted (by identity)
        self._key: Hashable = None
        self._adapted: Any = None
        self._built: tuple[Backbone, Any] | None = None  # (adapted encoder, what extracts with it)

    def adapted(self, backbone: Backbone, key: Hashable, adapt: Callable[[], T]) -> T:
        """``adapt()``'s result for ``backbone`` under ``key`` (what the adaptation depends on besides the
        backbone: the support images and labels by content, the options), made once while both repeat."""
        if self._adapted is None or self._source is not backbone or self._key != key:
            self.clear()  # free the previous encoder and its features before adapting the next
            self._adapted = adapt()
            self._source, self._key = backbone, key
        return self._adapted

    def built_for(self, encoder: Backbone, build: Callable[[], T]) -> T:
        """``build()`` for ``encoder`` (the feature stores extracting with it), made once per encoder: the
        rows that share an adapted encoder share its features too."""
        if self._built is None or self._built[0] is not encoder:
            self._built = None  # one adapted encoder's features in memory at a time
            self._built = (encoder, build())
        return self._built[1]
