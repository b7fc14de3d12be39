"""The few-shot DataModule: a seeded B-shot support split and the test split, as features.

Methods see features, never pixels: the module hands out the support bank and test batches of
dense features with their original-resolution labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader

from rns_bench.data.sampling import SupportSplit
from rns_bench.runs.context import DatasetContext
from rns_bench.support.bank import SupportBank


class _TestItems(torch.utils.data.Dataset):
    """The test split as items, holding the features (and regions) of ``share`` only: under DDP a
    rank loads — and, for what is not cached, computes — its own images, not every rank all of them."""

    def __init__(self, context: DatasetContext, share: Sequence[int]):
        self.context = context
        ids = [context.test_ids[i] for i in share]
        self.dense = dict(zip(ids, context.test_features(ids), strict=True))
        regions = context.test_regions(ids)
        self.regions = dict(zip(ids, regions, strict=True)) if regions is not None else None

    def __len__(self) -> int:
        return len(self.context.test_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_id = self.context.test_ids[index]
        label = self.context.reader.read_label(image_id)
        dense = self.dense[image_id]
        return {"image_id": image_id, "features": dense.features, "resized_hw": dense.resized_hw,
                "label": torch.from_numpy(label.astype(np.int64)),
                "regions": self.regions[image_id] if self.regions is not None else None}


class FewShotDataModule(L.LightningDataModule):
    """Support split (shots, seed) + test split of one dataset, as features."""

    def __init__(self, context: DatasetContext, shots: int, seed: int, batch_size: int = 16):
        super().__init__()
        self.context, self.shots, self.seed, self.batch_size = context, shots, seed, batch_size
        self.split: SupportSplit | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.split is None:
            self.split = self.context.support_split(self.shots, self.seed)

    def support_bank(self) -> SupportBank:
        self.setup()
        return self.context.build_bank(self.split.image_ids)

    def test_dataloader(self) -> DataLoader:
        every = range(len(self.context.test_ids))
        sampler, share = None, every
        if self.trainer is not None and self.trainer.world_size > 1:
            # Each process evaluates a disjoint share; unlike DistributedSampler nothing is
            # repeated to even the shares out, so no image is counted twice in the metric.
            sampler = UnrepeatedDistributedSampler(every, num_replicas=self.trainer.world_size,
                                                   rank=self.trainer.global_rank, shuffle=False)
            share = list(sampler)
        items = _TestItems(self.context, share)
        return DataLoader(items, batch_size=self.batch_size, sampler=sampler, collate_fn=list, num_workers=0)
