"""Write the caches of chosen datasets × backbones as a reproduction pack (``python -m rns_bench.features export``).

Each dataset × backbone config is one *part* of the pack: the command line's overrides that shape its
features (paths left out), its data identity (``RunContext.data_identity``, as records hold it), and
the caches it reads, each described by the cache's own key: the ``FeatureKey`` of its test and support
features, the region cache's settings in region mode, and the backbone card (text features of its
classes, patch size, dim, provenance). Entries: every test image (all required: a pack that lacks one
cannot reproduce a run) and, under both settings, every support-pool image the cache holds (so the
drawn support splits and tuning's validation images come along; ``features extract support_images=pool``
first packs the whole pool). Nothing is extracted here. The pack is written in a temp folder beside
``pack`` and renamed onto it when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from rns_bench.bench.extract import support_image_ids
from rns_bench.bench.pack_readme import dataset_card, sweep_command
from rns_bench.core.atomic_io import temp_path, write_text_atomic
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.features.backbone_card import BackboneCard, card_path, save_card
from rns_bench.features.cache import FeatureCache
from rns_bench.features.pack_format import (
    CARD_NAME,
    DEFAULT_SHARD_MB,
    PACK_FORMAT,
    Entry,
    shard_row,
    write_manifest,
    write_shards,
)
from rns_bench.ops.resize import PIXEL_PIPELINE
from rns_bench.proposals.cache import RegionCache, decode_region_map
from rns_bench.runs.config import RunConfig
from rns_bench.runs.context import RunContext, build_context
from rns_bench.runs.records import environment
from rns_bench.runs.schema import validate_config

# Overrides that say where things are on the exporter's machine, not what the features are: not replayed.
LOCAL_KEYS = {"data_root", "cache_dir", "results_dir", "presence_cache_dir", "region_cache_dir"}
LOCAL_BACKBONE_OPTIONS = {"backbone.options.device", "backbone.options.hf_cache_dir"}


@dataclass
class PackCache:
    """One cache folder of the pack: its description for the manifest and the entries to copy."""

    describe: dict[str, Any]
    read: Callable[[str], dict[str, torch.Tensor]]  # entry name → its tensors
    names: dict[str, None] = field(default_factory=dict)  # ordered set of entry names


@dataclass
class ExportReport:
    pack: Path
    bytes: int
    shards: int
    seconds: float
    lines: list[str]


def export_pack(
    configs: Sequence[tuple[DictConfig, list[str]]], pack: Path, shard_mb: float = DEFAULT_SHARD_MB
) -> ExportReport:
    """Write the pack of every (composed config, its overrides) in ``configs`` to the new folder ``pack``."""
    started, pack = time.perf_counter(), Path(pack)
    if pack.exists() and (not pack.is_dir() or any(pack.iterdir())):
        raise ConfigError(f"pack={pack} exists and is not empty: a pack is written whole; name a new folder")
    if shard_mb <= 0:
        raise ConfigError(f"shard_mb must be positive, got {shard_mb}")
    caches: dict[str, PackCache] = {}
    cards: dict[str, BackboneCard] = {}
    parts, lines = [], []
    for cfg, overrides in configs:
        run = validate_config(cfg, overrides)  # every key and value, before any work
        if not run.cache_dir:
            raise ConfigError("export packs the on-disk feature cache: set cache_dir (configs/bench.yaml), not null")
        context = build_context(run)
        part = _part(run, context, overrides, caches, cards)
        parts.append(part)
        lines.append(_describe(part))
    manifest = {
        "format": PACK_FORMAT,
        "pixel_pipeline": PIXEL_PIPELINE,
        "parts": parts,
        "caches": {folder: cache.describe for folder, cache in caches.items()},
        "environment": environment(),
    }
    _write(pack, manifest, caches, cards, int(shard_mb * 2**20))
    shards = [shard for cache in manifest["caches"].values() for shard in cache["shards"]]
    size = sum(shard["bytes"] for shard in shards)
    return ExportReport(pack, size, len(shards), time.perf_counter() - started, lines)


def _part(
    run: RunConfig,
    context: RunContext,
    overrides: list[str],
    caches: dict[str, PackCache],
    cards: dict[str, BackboneCard],
) -> dict[str, Any]:
    test_names = [context.reader.image_digest(image_id) for image_id in context.test_ids]
    test_cache, support_cache = context.test_store.cache, context.support_store.cache
    _require_all(test_names, test_cache.has, f"test features of {run.dataset_key}", test_cache.dir, overrides)
    pool = support_image_ids(run, context, "pool")
    pool_names = [context.support_reader.image_digest(image_id) for image_id in pool]
    roles = {
        "test": _add(caches, f"features/{test_cache.dir.name}", _features_cache(test_cache), test_names),
        "support": _add(caches, f"features/{support_cache.dir.name}", _features_cache(support_cache), []),
    }
    _add(caches, roles["test"], caches[roles["test"]], [n for n in pool_names if test_cache.has(n)])  # validation
    support = [name for name in pool_names if support_cache.has(name)]
    _add(caches, roles["support"], caches[roles["support"]], support)
    if context.region_store is not None:
        roles["regions"] = _add_regions(caches, context.region_store.cache, test_names, overrides)
    options = run.backbone.get("options") or {}
    card = BackboneCard.of(context.backbone, run.backbone_name, options, context.class_names, context.text_features)
    roles["backbone"] = card_path(Path(), run.backbone_name, options).as_posix()  # the cache's layout
    cards[roles["backbone"]] = cards[roles["backbone"]].merged(card) if roles["backbone"] in cards else card
    return {
        "dataset": run.dataset_key,
        "backbone": run.backbone_name,
        "overrides": replayable(overrides, run),
        "data_identity": context.data_identity,
        "caches": roles,
        "images": {"test": len(test_names), "support_pool": len(pool), "support_in_pack": len(support)},
    }


def replayable(overrides: Sequence[str], run: RunConfig) -> list[str]:
    """The overrides an importer composes to get this part's config: dataset and backbone first, then every
    override of the export's command line except machine-local ones (folders, device)."""
    kept = [f"dataset={run.dataset_key}", f"backbone={run.backbone_name}"]
    for argument in overrides:
        key = argument.lstrip("+~").partition("=")[0]
        if key not in LOCAL_KEYS | LOCAL_BACKBONE_OPTIONS | {"dataset", "backbone"}:
            kept.append(argument)
    return kept


def _require_all(names: list[str], present: Callable[[str], bool], what: str, where: Path, overrides: list[str]):
    missing = sum(not present(name) for name in names)
    if missing:
        command = "features extract" if what.startswith("test") else "bench (region maps are made by the sweep)"
        raise InputError(
            f"{missing} of the {len(names)} {what} are not in {where}: run `python -m rns_bench.{command} "
            f"{' '.join(overrides)}` first, then export"
        )


def _add(caches: dict[str, PackCache], folder: str, cache: PackCache, names: list[str]) -> str:
    caches.setdefault(folder, cache).names.update(dict.fromkeys(names))
    return folder


def _add_regions(caches: dict[str, PackCache], regions: RegionCache | None, names: list[str], overrides: list[str]):
    if regions is None:
        raise ConfigError("export of a region-mode config needs region_cache_dir (the region maps), not null")
    _require_all(names, lambda name: regions.path(name).is_file(), "region maps", regions.dir, overrides)
    return _add(caches, f"regions/{regions.dir.name}", _region_cache(regions), names)


def _features_cache(cache: FeatureCache) -> PackCache:
    def read(name: str) -> dict[str, torch.Tensor]:
        dense = cache.load(name)
        if dense is None:
            raise InputError(f"the cache entry {cache.path(name)} is unreadable; delete it, extract again, then export")
        return {"features": dense.features, "resized_hw": torch.tensor(dense.resized_hw, dtype=torch.int64)}

    return PackCache({"kind": "features", "key": json.loads(cache.key.to_json())}, read)


def _region_cache(cache: RegionCache) -> PackCache:
    def read(name: str) -> dict[str, torch.Tensor]:
        data = np.fromfile(cache.path(name), dtype=np.uint8)
        if decode_region_map(data) is None:
            raise InputError(f"the region map {cache.path(name)} is unreadable; delete it, run again, then export")
        return {"png": torch.from_numpy(data)}

    return PackCache({"kind": "regions", "settings": cache.settings}, read)


def _write(
    pack: Path, manifest: dict[str, Any], caches: dict[str, PackCache], cards: dict[str, BackboneCard], max_bytes: int
) -> None:
    """Shards, cards, manifest and dataset card into a temp folder, renamed onto ``pack`` when complete."""
    staging = temp_path(pack)
    staging.mkdir(parents=True)
    try:
        for folder, cache in caches.items():
            entries = _entries(cache)
            manifest["caches"][folder] = {**cache.describe, "entries": len(cache.names)}
            manifest["caches"][folder]["shards"] = write_shards(staging, folder, entries, max_bytes)
        for file, card in cards.items():
            save_card(staging / file, card)
            described = {"kind": "backbone", "card": card.describe(), "entries": len(card.names)}
            manifest["caches"][file] = {**described, "shards": [shard_row(staging, file, len(card.names))]}
        write_manifest(staging, manifest)
        write_text_atomic(staging / CARD_NAME, dataset_card(manifest))
        if pack.is_dir():
            pack.rmdir()  # empty (checked above)
        os.replace(staging, pack)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _entries(cache: PackCache) -> Iterator[Entry]:
    for name in cache.names:
        yield name, cache.read(name)


def _describe(part: dict[str, Any]) -> str:
    images = part["images"]
    regions = f", {images['test']} region maps" if "regions" in part["caches"] else ""
    return (
        f"{part['dataset']} × {part['backbone']}: {images['test']} test images, {images['support_in_pack']} of "
        f"{images['support_pool']} support-pool images{regions}; sweep with `{sweep_command(part)}`"
    )
