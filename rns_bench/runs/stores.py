"""The test and support feature stores of a dataset × backbone, from the run config.

Shared by the sweep (``rns_bench.runs.context.build_context``) and ``python -m rns_bench.features
extract``, so both read and write the same cache entries. Config keys used: ``backbone``
(a ``configs/backbone/<name>.yaml``: name, options, test/support settings), ``cache_dir``
(null = no disk cache), ``extraction`` (image_batch, window_batch, cache_dtype, loader_workers, autocast)
and ``trainer.precision`` (extraction.autocast=auto follows it: ``RunConfig.autocast``).
"""

from __future__ import annotations

from rns_bench.backbones.base import Backbone
from rns_bench.features.cache import FeatureCache, FeatureKey
from rns_bench.features.settings import FEATURE_SPLITS, settings_from_config
from rns_bench.features.store import FeatureStore
from rns_bench.runs.config import RunConfig


def prefetches_support_pool(run: RunConfig, pool_size: int) -> bool:
    """Whether the sweep extracts every support-pool image into the cache up front (so another
    seed or shot count later extracts nothing): ``pool`` always, ``drawn`` never, ``auto`` when
    the pool has at most ``support_prefetch_max_images`` images. Needs the disk cache."""
    options = run.extraction
    if not run.cache_dir or options.support_prefetch == "drawn":
        return False
    return options.support_prefetch == "pool" or pool_size <= int(options.support_prefetch_max_images)


def build_feature_stores(run: RunConfig, backbone: Backbone) -> dict[str, FeatureStore]:
    """{'test': store, 'support': store} under ``run.backbone``, caching under ``run.cache_dir``. Entries are
    named by image content, so the stores serve any dataset (support from another one too, Fig. 9)."""
    backbone_config, options, autocast = run.backbone, run.extraction, run.autocast
    stores = {}
    for split in FEATURE_SPLITS:
        settings = settings_from_config(backbone_config, split)
        cache = None
        if run.cache_dir:
            identity = {**(backbone_config.get("options") or {}), **backbone.provenance()}
            key = FeatureKey.create(backbone_config["name"], identity, settings, options.cache_dtype, autocast)
            cache = FeatureCache(run.cache_dir, key)
        stores[split] = FeatureStore(
            backbone,
            cache,
            settings,
            image_batch=options.image_batch,
            window_batch=options.window_batch,
            loader_workers=options.loader_workers,
            autocast=autocast,
        )
    return stores
