"""Under DDP each rank's test loader holds the features (and region proposals) of its own share of
the test split only — not every rank all of them — and the shares cover the split exactly once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rns_bench.runs.config import RunConfig
from rns_bench.runs.context import build_context
from rns_bench.runs.datamodule import FewShotDataModule
from tests.bench_config import bench_config


@pytest.mark.parametrize("query_mode", ["patch", "region"])
def test_each_rank_loads_and_computes_only_its_share(tmp_path, toy_data_root, query_mode):
    extra = ["proposer=felzenszwalb", "query_mode=region"] if query_mode == "region" else []
    cfg = bench_config(tmp_path, toy_data_root, "test_limit=7", "cache_dir=null", *extra)
    seen = []
    for rank in (0, 1):
        context = build_context(RunConfig.of(cfg))  # a process of its own: nothing in memory yet
        module = FewShotDataModule(context, shots=1, seed=100)
        module.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        loader = module.test_dataloader()
        ids = [item["image_id"] for batch in loader for item in batch]
        assert context.test_store.extracted == len(ids) and set(loader.dataset.dense) == set(ids)
        if query_mode == "region":
            assert set(context.region_store._memory) == set(ids)
        seen.append(ids)
    assert sorted(seen[0] + seen[1]) == sorted(build_context(RunConfig.of(cfg)).test_ids) and not set(seen[0]) & set(
        seen[1]
    )
    assert len(seen[0]) == 4 and len(seen[1]) == 3
