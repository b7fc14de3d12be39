"""Feature stores built from the bench config: separate test and support stores, keys and the context."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bench_config import bench_config
from features.extract_worker import IMAGE_IDS, make_store
from features.fake_backbones import noise_image

from rns_bench.backbones import build_backbone
from rns_bench.features.settings import ExtractionSettings, WindowSpec
from rns_bench.runs.config import RunConfig
from rns_bench.runs.stores import build_feature_stores

CLIP_LIKE = (
    "+backbone.test={windows:[{crop:64,stride:32}]}",
    "+backbone.support={short_side:96,windows:[{crop:64,stride:32},{crop:32,stride:32}]}",
)


def test_support_and_test_stores_have_their_own_settings_and_keys(tmp_path: Path, toy_data_root: Path) -> None:
    cfg = bench_config(tmp_path, toy_data_root, "backbone=random_vlm", *CLIP_LIKE)
    stores = build_feature_stores(RunConfig.of(cfg), build_backbone("random_vlm"))
    assert stores["test"].settings == ExtractionSettings(None, (WindowSpec(64, 32),))
    assert stores["support"].settings == ExtractionSettings(96, (WindowSpec(64, 32), WindowSpec(32, 32)))
    assert stores["test"].cache.dir != stores["support"].cache.dir
    assert stores["test"].cache.dir.parent == tmp_path / "cache"  # not per dataset: entries are image contents


def test_identical_settings_share_one_cache_and_no_cache_dir_means_none(tmp_path: Path, toy_data_root: Path) -> None:
    cfg = bench_config(tmp_path, toy_data_root, "backbone=random_vlm")
    stores = build_feature_stores(RunConfig.of(cfg), build_backbone("random_vlm"))
    assert stores["test"].cache.dir == stores["support"].cache.dir  # same features, same entries
    uncached = bench_config(tmp_path, toy_data_root, "backbone=random_vlm", "cache_dir=null")
    assert all(
        s.cache is None for s in build_feature_stores(RunConfig.of(uncached), build_backbone("random_vlm")).values()
    )


def test_the_store_reads_the_cache_before_the_backbone(tmp_path: Path) -> None:
    first = make_store(tmp_path)
    extracted = first.get(IMAGE_IDS[:3], noise_image)
    assert first.windows_of(extracted[0].resized_hw) > 1

    def no_image(image_id: str):
        raise AssertionError(f"{image_id} should come from the cache")

    again = make_store(tmp_path).get(IMAGE_IDS[:3], no_image)
    assert all(torch.equal(a.features, b.features) for a, b in zip(extracted, again, strict=True))


def test_precompute_needs_a_cache(tmp_path: Path) -> None:
    from rns_bench.core.errors import ConfigError
    from rns_bench.features.store import FeatureStore

    with pytest.raises(ConfigError, match="cache_dir"):
        FeatureStore(build_backbone("random_vlm"), None, ExtractionSettings()).precompute(["a"], noise_image)
