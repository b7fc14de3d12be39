"""Runs stream test items from the disk cache (nothing of the split kept), each label is decoded once per
job, and loader workers give the same numbers as reading in the main process."""

from __future__ import annotations

from bench_config import bench_config

from rns_bench.bench.sweep import SweepStats, run_sweep
from rns_bench.runs.records import read_records

GRID = ("methods=[knn_clip,zero_shot]", "shots=[1,2]", "seeds=[100]", "test_limit=8", "batch_size=3")


def _metrics(results):
    return {(r.row, r.shots): r.metrics for r in read_records(results, "toy", "toy_vlm", "full")}


def test_streamed_items_and_loader_workers_give_the_same_numbers(tmp_path, toy_data_root):
    held, streamed, workers = SweepStats(), SweepStats(), SweepStats()
    run_sweep(bench_config(tmp_path / "held", toy_data_root, *GRID, "cache_dir=null"), held)
    run_sweep(bench_config(tmp_path / "streamed", toy_data_root, *GRID), streamed)
    run_sweep(bench_config(tmp_path / "workers", toy_data_root, *GRID, "test_loader_workers=2"), workers)
    reference = _metrics(tmp_path / "held" / "results")
    assert len(reference) == 4
    assert _metrics(tmp_path / "streamed" / "results") == reference
    assert _metrics(tmp_path / "workers" / "results") == reference
    for stats in (held, streamed, workers):
        assert stats.label_decodes == 8  # 3 evaluations (zero-shot once) read each label; decoded once
    assert held.context.test_store._memory  # without a cache the features are computed once and held
    assert not streamed.context.test_store._memory and not workers.context.test_store._memory
