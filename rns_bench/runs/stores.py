"""The test and support feature stores of a dataset × backbone, from the bench config.

Shared by the sweep (``rns_bench.runs.context.build_context``) and ``python -m rns_bench.features
extract``, so both read and write the same cache entries. Config keys used: ``backbone``
(a ``configs/backbone/<name>.yaml``: name, options, test/support settings), ``cache_dir``
(null = no disk cache), ``extraction`` (image_batch, window_batch, cache_dtype, loader_workers, autocast)
and ``trainer.precision`` (extraction.autocast=auto follows it).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from rns_bench.backbones.base import Backbone
from rns_bench.core.errors import ConfigError
from rns_bench.features.cache import AUTOCAST_DTYPES, FeatureCache, FeatureKey
from rns_bench.features.dense import DEFAULT_WINDOW_BATCH
from rns_bench.features.pipeline import loader_workers
from rns_bench.features.settings import FEATURE_SPLITS, settings_from_config
from rns_bench.features.store import FeatureStore

EXTRACTION_DEFAULTS = {
    "image_batch": 8,
    "window_batch": DEFAULT_WINDOW_BATCH,
    "cache_dtype": "float32",
    "support_prefetch": "auto",
    "support_prefetch_max_images": 2000,
    "loader_workers": "auto",
    "autocast": "auto",
}
SUPPORT_PREFETCH = ("auto", "pool", "drawn")
# Lightning's mixed precisions → the autocast dtype extraction runs under with extraction.autocast=auto.
# "-true" precisions cast the LightningModule's weights, never the backbone's: its features stay float32.
MIXED_PRECISION_AUTOCAST = {"bf16-mixed": "bfloat16", "bf16": "bfloat16", "16-mixed": "float16", "16": "float16"}


def extraction_options(cfg: DictConfig) -> dict[str, Any]:
    """``cfg.extraction`` over ``EXTRACTION_DEFAULTS`` (configs without the block get the defaults)."""
    given = OmegaConf.to_container(cfg.extraction, resolve=True) if cfg.get("extraction") else {}
    unknown = set(given) - set(EXTRACTION_DEFAULTS)
    if unknown:
        raise ConfigError(
            f"unknown extraction option(s) {sorted(unknown)} in configs/bench.yaml; "
            f"valid: {sorted(EXTRACTION_DEFAULTS)}"
        )
    options = {**EXTRACTION_DEFAULTS, **given}
    if options["support_prefetch"] not in SUPPORT_PREFETCH:
        raise ConfigError(
            f"extraction.support_prefetch={options['support_prefetch']!r} unknown; choose one of {SUPPORT_PREFETCH}"
        )
    loader_workers(options["loader_workers"], torch.device("cpu"))  # a bad value fails here, before any work
    if options["autocast"] != "auto" and options["autocast"] not in AUTOCAST_DTYPES:
        raise ConfigError(
            f"extraction.autocast={options['autocast']!r} unknown; choose auto (follows "
            f"trainer.precision) or one of {', '.join(AUTOCAST_DTYPES)}"
        )
    return options


def extraction_autocast(cfg: DictConfig) -> str:
    """The autocast dtype features are extracted under: ``extraction.autocast``, or with ``auto`` the one
    ``trainer.precision`` implies (bf16-mixed → bfloat16, 16-mixed → float16, else none). It keys the cache
    and the record: a bf16 sweep and a float32 one never read each other's features."""
    chosen = extraction_options(cfg)["autocast"]
    if chosen != "auto":
        return chosen
    precision = str((cfg.get("trainer") or {}).get("precision", "32-true"))
    return MIXED_PRECISION_AUTOCAST.get(precision, "none")


def prefetches_support_pool(cfg: DictConfig, pool_size: int) -> bool:
    """Whether the sweep extracts every support-pool image into the cache up front (so another
    seed or shot count later extracts nothing): ``pool`` always, ``drawn`` never, ``auto`` when
    the pool has at most ``support_prefetch_max_images`` images. Needs the disk cache."""
    options = extraction_options(cfg)
    if not cfg.cache_dir or options["support_prefetch"] == "drawn":
        return False
    return options["support_prefetch"] == "pool" or pool_size <= int(options["support_prefetch_max_images"])


def build_feature_stores(cfg: DictConfig, backbone: Backbone) -> dict[str, FeatureStore]:
    """{'test': store, 'support': store} under ``cfg.backbone``, caching under ``cfg.cache_dir``. Entries are
    named by image content, so the stores serve any dataset (support from another one too, Fig. 9)."""
    backbone_config: Mapping[str, Any] = OmegaConf.to_container(cfg.backbone, resolve=True)
    options, autocast = extraction_options(cfg), extraction_autocast(cfg)
    stores = {}
    for split in FEATURE_SPLITS:
        settings = settings_from_config(backbone_config, split)
        cache = None
        if cfg.cache_dir:
            identity = {**(backbone_config.get("options") or {}), **backbone.provenance()}
            key = FeatureKey.create(backbone_config["name"], identity, settings, options["cache_dtype"], autocast)
            cache = FeatureCache(Path(cfg.cache_dir), key)
        stores[split] = FeatureStore(
            backbone,
            cache,
            settings,
            image_batch=options["image_batch"],
            window_batch=options["window_batch"],
            loader_workers=options["loader_workers"],
            autocast=autocast,
        )
    return stores
