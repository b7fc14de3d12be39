"""Where each cache of a checked pack part goes in the user's caches, and how its entries are written there.

The targets are the user's own caches as the sweep builds them (``context``): the test and support
``FeatureCache`` (entries written with ``FeatureCache.save``, so they carry the user's key, which the
import checked is the pack's), the ``RegionCache`` folder (the PNG bytes as packed, plus its key.json)
and the backbone card under ``cache_dir`` (merged with a card already there). Entries the cache already
holds are skipped, so importing a pack again writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rns_bench.core.atomic_io import atomic_target, write_text_atomic
from rns_bench.core.errors import InputError
from rns_bench.features.backbone_card import card_path, load_card, save_card
from rns_bench.features.cache import STORAGE_DTYPES, FeatureCache
from rns_bench.features.dense import DenseFeatures
from rns_bench.features.pack_format import read_shard
from rns_bench.features.pack_install import KEY_FILE, InstallJob
from rns_bench.proposals.cache import RegionCache, decode_region_map
from rns_bench.runs.config import RunConfig
from rns_bench.runs.context import RunContext


def part_jobs(
    pack: Path, manifest: dict[str, Any], part: dict[str, Any], run: RunConfig, context: RunContext
) -> list[tuple[InstallJob, str]]:
    """(install job, one line saying what it fills) for every cache of ``part``."""
    caches, roles = manifest["caches"], part["caches"]
    jobs = []
    stores = {"test": context.test_store, "support": context.support_store}
    if roles["test"] == roles["support"]:  # one setting for both (a cache folder of one key)
        stores = {"test and support": context.test_store}
    for role, store in stores.items():
        folder = roles[role.split()[0]]
        shards = [pack / s["file"] for s in caches[folder]["shards"]]
        job = InstallJob(run.cache_dir, store.cache.dir, _feature_writer(shards, store.cache))
        jobs.append((job, f"{role} features: {caches[folder]['entries']} entries → {store.cache.dir}"))
    if "regions" in roles:
        regions = context.region_store.cache
        shards = [pack / s["file"] for s in caches[roles["regions"]]["shards"]]
        job = InstallJob(run.region_cache_dir, regions.dir, _region_writer(shards, regions, run.region_cache_dir))
        jobs.append((job, f"region maps: {caches[roles['regions']]['entries']} entries → {regions.dir}"))
    card_file = pack / roles["backbone"]
    target = card_path(run.cache_dir, run.backbone_name, run.backbone.get("options"))
    job = InstallJob(run.cache_dir, target, _card_writer(card_file, target, run.cache_dir), last=True)
    jobs.append((job, f"text features of {len(context.class_names)} classes, patch size, provenance → {target}"))
    return jobs


def _feature_writer(shards: list[Path], cache: FeatureCache) -> Callable[[Path], int]:
    dtype = STORAGE_DTYPES[cache.key.storage_dtype]

    def write(staging: Path) -> int:
        staged, written = FeatureCache(staging, cache.key), 0
        for shard in shards:
            for name, tensors in read_shard(shard):
                if cache.has(name):
                    continue
                features, resized_hw = tensors.get("features"), tensors.get("resized_hw")
                if features is None or resized_hw is None or features.ndim != 3 or features.dtype != dtype:
                    raise InputError(
                        f"pack shard {shard}: entry {name} is not {cache.key.storage_dtype} (h, w, D) features with "
                        "resized_hw, as its cache key says; export the pack again"
                    )
                staged.save(name, DenseFeatures(features, (int(resized_hw[0]), int(resized_hw[1]))))
                written += 1
        return written

    return write


def _region_writer(shards: list[Path], cache: RegionCache, root: Path) -> Callable[[Path], int]:
    def write(staging: Path) -> int:
        folder, written = staging / cache.dir.relative_to(root), 0
        write_text_atomic(folder / KEY_FILE, json.dumps(cache.settings, indent=2, sort_keys=True, default=str) + "\n")
        for shard in shards:
            for name, tensors in read_shard(shard):
                if cache.path(name).is_file():
                    continue
                data = tensors.get("png")
                if data is None or data.dtype != torch.uint8 or decode_region_map(data.numpy()) is None:
                    raise InputError(f"pack shard {shard}: entry {name} is not a region map PNG; export the pack again")
                with atomic_target(folder / cache.path(name).name) as tmp:
                    tmp.write_bytes(data.numpy().tobytes())
                written += 1
        return written

    return write


def _card_writer(card_file: Path, target: Path, cache_dir: Path) -> Callable[[Path], int]:
    def write(staging: Path) -> int:
        card = load_card(card_file)
        if target.is_file():
            held = load_card(target)
            card = held.merged(card)
            if card.describe() == held.describe() and torch.equal(card.text, held.text):
                return 0  # the cache's card holds it all already
        save_card(staging / target.relative_to(cache_dir), card)
        return len(card.names)

    return write
