"""The few-shot DataModule: a seeded B-shot support split and the test split, as features.

Support images come from the train split (protocol §2), test images from val. Methods see
features, never pixels: the module hands out the support bank, the text features and test
batches of dense features with their original-resolution labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader

from rns_bench.bank import SupportBank
from rns_bench.data.datasets import DatasetSpec
from rns_bench.data.presence_index import PresenceIndex, PresenceKey, compute_presence
from rns_bench.data.sampling import SupportSplit
from rns_bench.data.support_splits import draw_support_split
from rns_bench.features.dense import resize_label
from rns_bench.features.store import FeatureStore


@dataclass
class DatasetContext:
    """What every run on one dataset × backbone shares: reader, class presence, features.

    ``presence_cache_dir``: where the on-disk presence index lives (shared by every seed,
    shots and process); None keeps presence in memory for this context only.
    """

    spec: DatasetSpec
    data_root: Path
    store: FeatureStore
    test_limit: int | None = None
    presence_cache_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.spec.prepare is not None:
            self.spec.prepare(self.data_root)
        self.reader = self.spec.make_reader(self.data_root)
        key = PresenceKey.for_dataset(self.spec, self.store.short_side)
        self._presence_index = PresenceIndex(self.presence_cache_dir, key, len(self.class_names))

    @property
    def class_names(self) -> list[str]:
        return self.spec.class_names()

    def presence(self, pool_ids: list[str]) -> np.ndarray:
        """(P, K) class presence of the pool images on the support-resized labels (§2.2)."""
        return compute_presence(self.reader.read_label, pool_ids, len(self.class_names), self.store.short_side)

    def support_split(self, shots: int, seed: int) -> SupportSplit:
        return draw_support_split(self.spec, self.reader, shots, seed, self._presence_of)

    def _presence_of(self, pool: list[str]) -> np.ndarray:
        """Presence rows of ``pool``, computed once per image for all seeds and shots (and, with
        ``presence_cache_dir``, for every later run too)."""
        return self._presence_index.rows(pool, self.reader.read_label)

    @cached_property
    def test_ids(self) -> list[str]:
        ids = self.reader.image_ids(self.spec.test_split)
        return ids[: self.test_limit] if self.test_limit else ids

    @cached_property
    def text_features(self) -> torch.Tensor:
        with torch.no_grad():
            return self.store.backbone.encode_text(self.class_names).float().cpu()

    def build_bank(self, support_ids: tuple[str, ...]) -> SupportBank:
        backbone = self.store.backbone
        bank = SupportBank(len(self.class_names), backbone.dim)
        dense = self.store.get(list(support_ids), self.reader.read_image, desc="support features")
        for image_id, features in zip(support_ids, dense, strict=True):
            label = resize_label(self.reader.read_label(image_id), features.resized_hw)
            bank.add_image(image_id, features.features, torch.from_numpy(label.astype(np.int64)),
                           backbone.patch_size)
        return bank


class _TestItems(torch.utils.data.Dataset):
    def __init__(self, context: DatasetContext):
        self.context = context
        self.dense = context.store.get(context.test_ids, context.reader.read_image, desc="test features")

    def __len__(self) -> int:
        return len(self.context.test_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_id = self.context.test_ids[index]
        label = self.context.reader.read_label(image_id)
        return {"image_id": image_id, "features": self.dense[index].features,
                "resized_hw": self.dense[index].resized_hw,
                "label": torch.from_numpy(label.astype(np.int64))}


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
        items = _TestItems(self.context)
        sampler = None
        if self.trainer is not None and self.trainer.world_size > 1:
            # Each process evaluates a disjoint share; unlike DistributedSampler nothing is
            # repeated to even the shares out, so no image is counted twice in the metric.
            sampler = UnrepeatedDistributedSampler(items, num_replicas=self.trainer.world_size,
                                                   rank=self.trainer.global_rank, shuffle=False)
        return DataLoader(items, batch_size=self.batch_size, sampler=sampler, collate_fn=list, num_workers=0)
