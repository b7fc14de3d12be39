"""The few-shot DataModule: a seeded B-shot support split and the test split, as features.

Support images come from the train split (protocol §2), test images from val. Methods see
features, never pixels: the module hands out the support bank, the text features and test
batches of dense features with their original-resolution labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader

from rns_bench.backbones.base import Backbone
from rns_bench.bank import SupportBank
from rns_bench.data.datasets import DatasetSpec
from rns_bench.data.presence_index import PresenceIndex, PresenceKey, compute_presence
from rns_bench.data.sampling import SupportSplit
from rns_bench.data.support_splits import draw_support_split
from rns_bench.errors import InputError
from rns_bench.features.dense import DenseFeatures
from rns_bench.features.store import FeatureStore
from rns_bench.ops.resize import resize_label
from rns_bench.proposals.store import RegionStore, resized_image_loader


@dataclass
class DatasetContext:
    """What every run on one dataset × backbone shares: reader, class presence, features.

    ``support_store`` and ``test_store`` extract with the backbone's support and test settings
    (protocol §3: e.g. crops 448 + 224 / stride 112 for support, 448 / 224 for test) and share
    one backbone; the support resize also defines class presence (§2.2). ``test_store=None``
    makes a context that only draws support splits and builds banks.
    ``presence_cache_dir``: where the on-disk presence index lives (shared by every seed,
    shots and process); None keeps presence in memory for this context only.
    """

    spec: DatasetSpec
    data_root: Path
    support_store: FeatureStore
    test_store: FeatureStore | None = None
    test_limit: int | None = None
    presence_cache_dir: Path | None = None
    region_store: RegionStore | None = None  # region mode: proposals of the test images (rns spec §6)
    _last_adapted: DatasetContext | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.test_store is not None and self.test_store.backbone is not self.support_store.backbone:
            raise InputError("the support and test feature stores must share one backbone (text features and "
                             "patch size come from it); build both from the same backbone object")
        if self.spec.prepare is not None:
            self.spec.prepare(self.data_root)
        self.reader = self.spec.make_reader(self.data_root)
        key = PresenceKey.for_dataset(self.spec, self.support_store.short_side)
        self._presence_index = PresenceIndex(self.presence_cache_dir, key, len(self.class_names))

    def with_backbone(self, backbone: Backbone) -> DatasetContext:
        """This context with features from ``backbone`` (same extraction settings, no disk cache):
        for an encoder adapted to one run's support images, whose features no other run shares.
        The last one is kept, so the rows that share an adapted encoder share its features too."""
        if self._last_adapted is not None and self._last_adapted.backbone is backbone:
            return self._last_adapted

        def fresh(store: FeatureStore) -> FeatureStore:
            return FeatureStore(backbone, None, store.settings, store.image_batch, store.window_batch)

        self._last_adapted = None  # one adapted encoder's features in memory at a time
        self._last_adapted = replace(self, support_store=fresh(self.support_store),
                                     test_store=fresh(self.test_store) if self.test_store is not None else None)
        return self._last_adapted

    @property
    def backbone(self) -> Backbone:
        return self.support_store.backbone

    @property
    def store(self) -> FeatureStore:
        """The support-settings store (the name from before test and support features were split;
        new code says ``support_store``)."""
        return self.support_store

    def test_features(self) -> list[DenseFeatures]:
        """Dense features of ``test_ids`` under the test settings, in order."""
        if self.test_store is None:
            raise InputError("this DatasetContext has no test_store: build it with one to evaluate test images")
        return self.test_store.get(self.test_ids, self.reader.read_image, desc="test features")

    def test_regions(self) -> list[torch.Tensor] | None:
        """(H_r, W_r) region maps of ``test_ids`` at the resized test resolution, or None (patch mode)."""
        if self.region_store is None:
            return None
        loader = resized_image_loader(self.reader.read_image, self.test_store.short_side)
        return self.region_store.get(self.test_ids, loader)

    @property
    def class_names(self) -> list[str]:
        return self.spec.class_names()

    def presence(self, pool_ids: list[str]) -> np.ndarray:
        """(P, K) class presence of the pool images on the support-resized labels (§2.2)."""
        return compute_presence(self.reader.read_label, pool_ids, len(self.class_names),
                                self.support_store.short_side)

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
            return self.backbone.encode_text(self.class_names).float().cpu()

    def build_bank(self, support_ids: tuple[str, ...]) -> SupportBank:
        backbone = self.backbone
        bank = SupportBank(len(self.class_names), backbone.dim)
        dense = self.support_store.get(list(support_ids), self.reader.read_image, desc="support features")
        for image_id, features in zip(support_ids, dense, strict=True):
            label = resize_label(self.reader.read_label(image_id), features.resized_hw)
            bank.add_image(image_id, features.features, torch.from_numpy(label.astype(np.int64)),
                           backbone.patch_size)
        return bank


class _TestItems(torch.utils.data.Dataset):
    def __init__(self, context: DatasetContext):
        self.context = context
        self.dense = context.test_features()
        self.regions = context.test_regions()

    def __len__(self) -> int:
        return len(self.context.test_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_id = self.context.test_ids[index]
        label = self.context.reader.read_label(image_id)
        return {"image_id": image_id, "features": self.dense[index].features,
                "resized_hw": self.dense[index].resized_hw,
                "label": torch.from_numpy(label.astype(np.int64)),
                "regions": self.regions[index] if self.regions is not None else None}


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
