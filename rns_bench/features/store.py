"""Features for image ids: memory, then the disk cache, then the backbone (in batches)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from rns_bench.backbones.base import Backbone
from rns_bench.features.cache import FeatureCache
from rns_bench.features.dense import DenseFeatures, extract_dense


class FeatureStore:
    """Dense features of one dataset under one backbone setting, shared by all runs."""

    def __init__(self, backbone: Backbone, cache: FeatureCache | None, short_side: int | None,
                 batch_size: int = 8):
        self.backbone = backbone
        self.cache = cache
        self.short_side = short_side
        self.batch_size = batch_size
        self._memory: dict[str, DenseFeatures] = {}

    def get(self, image_ids: Sequence[str], load_image: Callable[[str], np.ndarray],
            desc: str = "features") -> list[DenseFeatures]:
        missing = [i for i in dict.fromkeys(image_ids) if i not in self._memory]
        if self.cache is not None:
            for image_id in list(missing):
                cached = self.cache.load(image_id)
                if cached is not None:
                    self._memory[image_id] = cached
                    missing.remove(image_id)
        chunks = [missing[i : i + self.batch_size] for i in range(0, len(missing), self.batch_size)]
        for chunk in tqdm(chunks, desc=f"extracting {desc}", unit="batch", disable=not chunks, leave=False):
            for image_id, dense in zip(chunk, extract_dense(self.backbone, [load_image(i) for i in chunk],
                                                            self.short_side), strict=True):
                if self.cache is not None:
                    self.cache.save(image_id, dense)
                self._memory[image_id] = dense
        return [self._memory[i] for i in image_ids]
