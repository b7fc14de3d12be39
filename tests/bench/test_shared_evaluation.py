"""Zero-shot is evaluated once per (dataset, text setting) in a sweep, and every cell's record equals what
evaluating that cell on its own gives (subset mIoUs of partial settings included)."""

from __future__ import annotations

import pytest
from bench_config import bench_config

import rns_bench.bench.sweep as run_module
from rns_bench.bench.sweep import run_sweep
from rns_bench.methods.zero_shot import ZeroShot
from rns_bench.runs.config import RunConfig, sweep_protocol
from rns_bench.runs.records import read_records

GRID = ("methods=[zero_shot]", "shots=[1,2]", "seeds=[100,18]", "test_limit=6")


@pytest.fixture
def evaluations(monkeypatch) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []
    real = run_module.run_one

    def counting(cfg, context, plan):
        calls.append((plan.key.shots, plan.key.seed))
        return real(cfg, context, plan)

    monkeypatch.setattr(run_module, "run_one", counting)
    return calls


def _by_cell(records):
    return {(r.shots, r.seed): r.to_json() for r in records}


@pytest.mark.parametrize("protocol, evaluated", [("full", 1), ("partial_visual", 1), ("partial_text", 2)])
def test_one_evaluation_per_text_setting_gives_each_cells_own_numbers(
    tmp_path, toy_data_root, evaluations, monkeypatch, protocol, evaluated
):
    cfg = bench_config(tmp_path / "shared", toy_data_root, *GRID, f"protocol={protocol}")
    folder = sweep_protocol(RunConfig.of(cfg))
    run_sweep(cfg)
    assert len(evaluations) == evaluated  # partial text: the seed drops other names, so once per seed
    shared = _by_cell(read_records(tmp_path / "shared" / "results", "toy", "toy_vlm", folder))
    assert len(shared) == 4 and sum("evaluated_once" in r for r in shared.values()) == 4 - evaluated

    monkeypatch.setattr(ZeroShot, "reads_support", True)  # the reference: every cell on its own
    run_sweep(bench_config(tmp_path / "alone", toy_data_root, *GRID, f"protocol={protocol}"))
    assert len(evaluations) == evaluated + 4
    alone = _by_cell(read_records(tmp_path / "alone" / "results", "toy", "toy_vlm", folder))
    for cell, record in alone.items():
        assert shared[cell]["metrics"] == record["metrics"], cell
        assert shared[cell]["fingerprint"] == record["fingerprint"]
        for field in ("support_split", "support_images_per_class", "classes_without_images", "classes_without_names"):
            assert shared[cell][field] == record[field], (cell, field)
    if protocol == "partial_visual":  # the cells' subsets really differ, and each got its own
        assert len({r["metrics"]["mIoU_supported"] for r in alone.values()}) > 1


def test_a_later_sweep_serves_new_cells_from_an_earlier_evaluation(tmp_path, toy_data_root, evaluations):
    run_sweep(bench_config(tmp_path, toy_data_root, "methods=[zero_shot]", "shots=[1]", "seeds=[100]", "test_limit=6"))
    run_sweep(bench_config(tmp_path, toy_data_root, *GRID))
    assert len(evaluations) == 1
    records = [r.to_json() for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")]
    assert len(records) == 4 and len({r["metrics"]["mIoU"] for r in records}) == 1
    derived = [r for r in records if "evaluated_once" in r]
    assert len(derived) == 3 and {r["evaluated_once"]["source_shots"] for r in derived} == {1}
