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
from rns_bench.features.dense import device_of
from rns_bench.runs.context import RunContext
from rns_bench.support.bank import SupportBank


class _TestItems(torch.utils.data.Dataset):
    """The test split as items of the images of ``share`` only: under DDP a rank loads — and, for what
    is not cached, computes — its own images, not every rank all of them. With a disk cache the items
    are read one at a time (memory: one batch, whatever the split's size); without one the share's
    features are computed once and held."""

    def __init__(self, context: RunContext, share: Sequence[int]):
        self.context = context
        ids = [context.test_ids[i] for i in share]
        self.streamed = context.streams_test_items
        self.dense, self.regions = None, None
        if self.streamed:
            context.prepare_test_items(ids)
            for image_id in ids:  # decoded here, once per job: loader workers only read the kept copies
                context.test_label(image_id)
        else:
            self.dense = dict(zip(ids, context.test_features(ids), strict=True))
            regions = context.test_regions(ids)
            self.regions = dict(zip(ids, regions, strict=True)) if regions is not None else None

    def __len__(self) -> int:
        return len(self.context.test_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_id = self.context.test_ids[index]
        label = self.context.test_label(image_id)  # decoded once per job, not once per run
        if self.streamed:
            (dense,) = self.context.test_features([image_id], keep=False)
            regions = self.context.test_regions([image_id], keep=False)
            regions = regions[0] if regions is not None else None
        else:
            dense = self.dense[image_id]
            regions = self.regions[image_id] if self.regions is not None else None
        return {
            "image_id": image_id,
            "features": dense.features,
            "resized_hw": dense.resized_hw,
            "label": torch.from_numpy(label.astype(np.int64)),
            "regions": regions,
        }


class FewShotDataModule(L.LightningDataModule):
    """Support split (shots, seed) + test split of one dataset, as features."""

    def __init__(self, context: RunContext, shots: int, seed: int, batch_size: int = 16, loader_workers: int = 0):
        super().__init__()
        self.context, self.shots, self.seed, self.batch_size = context, shots, seed, batch_size
        self.loader_workers = loader_workers  # processes reading streamed test items ahead (GPU backbones)
        self.split: SupportSplit | None = None
        self.skip_images = 0  # of this process's share, counted by a killed run (resumed from its checkpoint)

    def setup(self, stage: str | None = None) -> None:
        if self.split is None:
            self.split = self.context.support_split(self.shots, self.seed)

    def support_bank(self) -> SupportBank:
        self.setup()
        return self.context.build_bank(self.split.image_ids)

    def test_dataloader(self) -> DataLoader:
        share = list(range(len(self.context.test_ids)))
        if self.trainer is not None and self.trainer.world_size > 1:
            # Each process evaluates a disjoint share; unlike DistributedSampler nothing is
            # repeated to even the shares out, so no image is counted twice in the metric.
            share = list(
                UnrepeatedDistributedSampler(
                    share, num_replicas=self.trainer.world_size, rank=self.trainer.global_rank, shuffle=False
                )
            )
        share = share[self.skip_images :]  # whole batches: the rest are batched as in an uninterrupted run
        items = _TestItems(self.context, share)
        workers = self.loader_workers if items.streamed else 0  # held items are already in this process
        pin = workers > 0 and device_of(self.context.backbone).type == "cuda"
        return DataLoader(
            items, batch_size=self.batch_size, sampler=share, collate_fn=list, num_workers=workers, pin_memory=pin
        )
