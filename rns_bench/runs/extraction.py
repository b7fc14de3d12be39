"""A sweep's features extracted once, before its runs, split across the processes of the sweep's Trainer.

Every run of a sweep reads the same test features and draws its support from the same pool, so
the sweep extracts them up front into the disk cache: the test split and the support images
(the whole pool when ``extraction.support_prefetch`` says so, else the union of the support
splits its runs draw). This goes through ``Trainer.test`` of :class:`ExtractionModule` with the
sweep's own trainer config: under DDP (``trainer.devices`` / ``trainer.num_nodes``) Lightning's
launcher starts the ranks here, each rank extracts a disjoint share (``UnrepeatedDistributedSampler``)
into the shared cache, and a barrier makes every share visible before any run reads it; so each
image goes through a backbone once in total. Rows with their own encoder (finetune baselines)
extract with it, uncached, and are left out.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from rns_bench.core.atomic_io import can_write_in
from rns_bench.core.errors import ConfigError
from rns_bench.features.store import FeatureStore
from rns_bench.methods import load_methods
from rns_bench.runs.config import RunConfig
from rns_bench.runs.context import RunContext
from rns_bench.runs.key import RunKey
from rns_bench.runs.stores import prefetches_support_pool

SPLITS = ("test", "support")


class _Jobs(Dataset):
    """(store name, image id) pairs, in the order the stores' batches are formed."""

    def __init__(self, jobs: list[tuple[str, str]]):
        self.jobs = jobs

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> tuple[str, str]:
        return self.jobs[index]


class ExtractionModule(L.LightningModule):
    """``Trainer.test`` over image ids: each batch's missing features go into the disk cache."""

    def __init__(self, stores: dict[str, FeatureStore], readers: dict[str, Any], share: int):
        super().__init__()
        self.stores, self.readers, self.share = stores, readers, share  # split → store, split → dataset reader
        self.progress: tqdm | None = None

    def on_test_start(self) -> None:
        rank = f" (rank {self.global_rank} of {self.trainer.world_size})" if self.trainer.world_size > 1 else ""
        self.progress = tqdm(total=self.share, desc=f"sweep features{rank}", unit="image", leave=False)

    def test_step(self, batch: list[tuple[str, str]], batch_idx: int) -> None:
        for split in SPLITS:
            ids = [image_id for name, image_id in batch if name == split]
            if ids:
                reader = self.readers[split]
                self.stores[split].precompute(ids, reader.read_image, self.progress, reader.image_digest)

    def on_test_end(self) -> None:
        if self.progress is not None:
            self.progress.close()
        # Every rank's share is in the cache before any rank's first run reads the others'.
        self.trainer.strategy.barrier("sweep features extracted")

    def configure_optimizers(self) -> None:
        return None


def sweep_images(
    run: RunConfig, context: RunContext, keys: Sequence[RunKey], methods: Sequence[str]
) -> list[tuple[str, str]]:
    """(split, image id) of every feature the runs ``keys`` (rows of ``methods``) read from the shared stores."""
    registry = load_methods()
    shared = [key for key, method in zip(keys, methods, strict=True) if not registry.get(method).needs_support_images]
    if not shared:
        return []
    pool = context.support_reader.image_ids(context.support_spec.support_split)
    if prefetches_support_pool(run, len(pool)):
        support = pool
    else:
        support = list(
            dict.fromkeys(
                image_id for key in shared for image_id in context.support_split(key.shots, key.seed).image_ids
            )
        )
    return [("test", image_id) for image_id in context.test_ids] + [("support", image_id) for image_id in support]


def extract_sweep_features(
    cache_dir: Path | None,
    context: RunContext,
    jobs: list[tuple[str, str]],
    make_trainer: Callable[[], L.Trainer],
) -> None:
    """Extract ``jobs`` into the ``cache_dir`` cache, split over the ranks of ``make_trainer()``'s strategy."""
    if not cache_dir:
        if jobs and make_trainer().world_size > 1:
            warnings.warn(
                "cache_dir is null: under DDP every rank extracts every feature itself (memory is not "
                "shared); set cache_dir to extract each image once",
                stacklevel=2,
            )
        return  # features are extracted on demand into memory, run by run
    stores = {"test": context.test_store, "support": context.support_store}
    readers = {"test": context.reader, "support": context.support_reader}
    # Every rank computes the same list (nothing is extracted before all of them start), so all
    # of them skip, or all of them enter Trainer.test.
    missing = _Jobs(
        [
            (split, image_id)
            for split, image_id in jobs
            if not stores[split].cache.has(readers[split].image_digest(image_id))
        ]
    )
    if not len(missing):
        return
    if not can_write_in(cache_dir) and cache_dir.is_dir():
        raise ConfigError(
            f"cache_dir={cache_dir} is read-only and {len(missing)} of this sweep's images are not "
            "in it; make it writable or point cache_dir at a writable copy"
        )
    trainer = make_trainer()
    share = (
        list(
            UnrepeatedDistributedSampler(
                missing, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False
            )
        )
        if trainer.world_size > 1
        else list(range(len(missing)))
    )
    batch = max(store.image_batch for store in stores.values())
    loader = DataLoader(missing, batch_size=batch, sampler=share, collate_fn=list)
    trainer.test(ExtractionModule(stores, readers, len(share)), dataloaders=loader, verbose=False)
