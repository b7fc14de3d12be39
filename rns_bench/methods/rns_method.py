"""RNS behind the method interface: one classifier per test image, a batch of images at once."""

from __future__ import annotations

import zlib

import torch

from rns_bench import rns
from rns_bench.methods.base import SegMethod
from rns_bench.methods.registry import METHODS
from rns_bench.rns.config import RNSConfig


def image_seed(init_seed: int, image_id: str) -> int:
    """Classifier-init seed of one image: independent of batching, order and process rank."""
    return (init_seed * 1_000_003 + zlib.crc32(image_id.encode())) % (2**62)


@METHODS.register("rns")
class RNS(SegMethod):
    options_class = RNSConfig

    @property
    def reads_text(self) -> bool:
        return not self.config.text_free  # the release's "w/o text" still pseudo-labels with the text (spec §5)

    def predict_probs(self, queries: list[torch.Tensor], image_ids: list[str]) -> list[torch.Tensor]:
        # The config gates the text (use_text / text_free, spec §5): "w/o text" in the release still
        # pseudo-labels unsupported classes with it, so the text is handed over unless text_free.
        text = None if self.config.text_free else self.text
        seeds = [image_seed(self.config.init_seed, i) for i in image_ids]
        with torch.inference_mode(False), torch.enable_grad():  # Trainer.test runs in inference mode
            queries = [q.clone() for q in queries]
            return rns.predict(
                queries,
                self.bank,
                text,
                self.config,
                text_available=self.text_available if text is not None else None,
                seeds=seeds,
                timings=self.seconds,
            )
