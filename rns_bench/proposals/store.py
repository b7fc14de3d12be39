"""Region maps for image ids: memory, then the disk cache, then the proposer.

Region maps are computed on the resized test image — the same keep-ratio resize as the dense
features (protocol §3, ``rns_bench.features.dense``) — so a map's shape equals the features'
``resized_hw`` and region mode can pool and paint at that resolution (rns spec §6, §7).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from rns_bench.core.timing import per_image, timed
from rns_bench.features.cache import not_in_memory_or_cache
from rns_bench.ops.resize import rescale_size, resize_image
from rns_bench.proposals.base import Proposer
from rns_bench.proposals.cache import RegionCache


def resize_for_test(image: np.ndarray, short_side: int | None) -> np.ndarray:
    """(H, W, 3) uint8 original image → the resized test image the features are extracted from."""
    return resize_image(image, rescale_size(*image.shape[:2], short_side))


def resized_image_loader(
    read_image: Callable[[str], np.ndarray], short_side: int | None
) -> Callable[[str], np.ndarray]:
    """``read_image(id)`` of original images → a loader of resized test images."""
    return lambda image_id: resize_for_test(read_image(image_id), short_side)


def region_map_for_test_image(proposer: Proposer, image: np.ndarray, short_side: int | None) -> torch.Tensor:
    """(H, W, 3) uint8 original test image → (H_r, W_r) int32 region map at the resized test
    resolution (H_r, W_r) = rescale_size(H, W, short_side)."""
    return proposer.propose(resize_for_test(image, short_side))


class RegionStore:
    """Region maps of one dataset under one proposer setting, shared by all runs."""

    def __init__(self, proposer: Proposer, cache: RegionCache | None):
        self.proposer = proposer
        self.cache = cache
        self._memory: dict[str, torch.Tensor] = {}
        self.seconds: dict[str, float] = {}  # {"proposals": s} spent proposing ``proposed`` images
        self.proposed = 0

    def seconds_per_image(self) -> float | None:
        """Proposer seconds per image this store proposed (None when all came from the cache)."""
        return per_image(self.seconds.get("proposals"), self.proposed)

    def get(
        self,
        image_ids: Sequence[str],
        load_resized_image: Callable[[str], np.ndarray],
        desc: str = "test regions",
        entry_name: Callable[[str], str] | None = None,
        keep: bool = True,
    ) -> list[torch.Tensor]:
        """The (H_r, W_r) int32 region maps of ``image_ids``; ``load_resized_image(id)`` gives the
        (H_r, W_r, 3) uint8 resized test image (see :func:`resized_image_loader`). ``entry_name(id)``
        names an id's cache entry (its image's content digest; default the id); ``keep=False`` reads
        cached maps without keeping them in memory (a run's working set stays one batch)."""
        name = entry_name or (lambda image_id: image_id)
        memory = (
            self._memory if keep or self.cache is None else {i: self._memory[i] for i in image_ids if i in self._memory}
        )
        missing = not_in_memory_or_cache(image_ids, memory, self.cache, name)
        for image_id in tqdm(
            missing, desc=f"proposing {desc} ({self.proposer.name})", unit="image", disable=not missing, leave=False
        ):
            image = load_resized_image(image_id)
            with timed(self.seconds, "proposals"):
                regions = self.proposer.propose(image)
            self.proposed += 1
            if self.cache is not None:
                self.cache.save(name(image_id), regions)
            memory[image_id] = regions
        return [memory[i] for i in image_ids]
