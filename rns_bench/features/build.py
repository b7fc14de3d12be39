"""The test and support feature stores of a dataset × backbone, from the bench config.

Shared by the sweep (``rns_bench.runs.context.build_context``) and ``python -m rns_bench.features
extract``, so both read and write the same cache entries. Config keys used: ``backbone``
(a ``configs/backbone/<name>.yaml``: name, options, test/support settings), ``cache_dir``
(null = no disk cache) and ``extraction`` (image_batch, window_batch, cache_dtype, loader_workers).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from rns_bench.backbones.base import Backbone
from rns_bench.core.errors import ConfigError
from rns_bench.data.datasets import DatasetSpec
from rns_bench.features.cache import FeatureCache, FeatureKey
from rns_bench.features.dense import DEFAULT_WINDOW_BATCH
from rns_bench.features.pipeline import loader_workers
from rns_bench.features.settings import FEATURE_SPLITS, settings_from_config
from rns_bench.features.store import FeatureStore

EXTRACTION_DEFAULTS = {"image_batch": 8, "window_batch": DEFAULT_WINDOW_BATCH, "cache_dtype": "float32",
                       "support_prefetch": "auto", "support_prefetch_max_images": 2000, "loader_workers": "auto"}
SUPPORT_PREFETCH = ("auto", "pool", "drawn")


def extraction_options(cfg: DictConfig) -> dict[str, Any]:
    """``cfg.extraction`` over ``EXTRACTION_DEFAULTS`` (configs without the block get the defaults)."""
    given = OmegaConf.to_container(cfg.extraction, resolve=True) if cfg.get("extraction") else {}
    unknown = set(given) - set(EXTRACTION_DEFAULTS)
    if unknown:
        raise ConfigError(f"unknown extraction option(s) {sorted(unknown)} in configs/bench.yaml; "
                          f"valid: {sorted(EXTRACTION_DEFAULTS)}")
    options = {**EXTRACTION_DEFAULTS, **given}
    if options["support_prefetch"] not in SUPPORT_PREFETCH:
        raise ConfigError(f"extraction.support_prefetch={options['support_prefetch']!r} unknown; choose one of "
                          f"{SUPPORT_PREFETCH}")
    loader_workers(options["loader_workers"], torch.device("cpu"))  # a bad value fails here, before any work
    return options


def prefetches_support_pool(cfg: DictConfig, pool_size: int) -> bool:
    """Whether the sweep extracts every support-pool image into the cache up front (so another
    seed or shot count later extracts nothing): ``pool`` always, ``drawn`` never, ``auto`` when
    the pool has at most ``support_prefetch_max_images`` images. Needs the disk cache."""
    options = extraction_options(cfg)
    if not cfg.cache_dir or options["support_prefetch"] == "drawn":
        return False
    return options["support_prefetch"] == "pool" or pool_size <= int(options["support_prefetch_max_images"])


def build_feature_stores(cfg: DictConfig, spec: DatasetSpec, backbone: Backbone,
                         support_spec: DatasetSpec | None = None) -> dict[str, FeatureStore]:
    """{'test': store, 'support': store} for ``spec`` under ``cfg.backbone``, caching under ``cfg.cache_dir``;
    the support store caches under ``support_spec`` when support comes from another dataset (Fig. 9)."""
    sources = {"test": spec, "support": support_spec or spec}
    backbone_config: Mapping[str, Any] = OmegaConf.to_container(cfg.backbone, resolve=True)
    options = extraction_options(cfg)
    stores = {}
    for split in FEATURE_SPLITS:
        settings = settings_from_config(backbone_config, split)
        cache = None
        if cfg.cache_dir:
            identity = {**(backbone_config.get("options") or {}), **backbone.provenance()}
            source = sources[split]
            key = FeatureKey.create(source.key, source.data_version, backbone_config["name"], identity, settings,
                                    options["cache_dtype"])
            cache = FeatureCache(Path(cfg.cache_dir), key)
        stores[split] = FeatureStore(backbone, cache, settings, image_batch=options["image_batch"],
                                     window_batch=options["window_batch"], loader_workers=options["loader_workers"])
    return stores
