"""Records carry seconds per image: extraction, support, the method, and RNS's test-time training apart."""

from __future__ import annotations

from bench_config import bench_config

from rns_bench.bench.sweep import run_sweep
from rns_bench.runs.records import read_records


def test_records_hold_per_image_seconds_of_each_stage(tmp_path, toy_data_root):
    run_sweep(
        bench_config(
            tmp_path,
            toy_data_root,
            "shots=[1]",
            "seeds=[100]",
            "test_limit=4",
            "methods=[zero_shot,rns]",
            "rows.rns.options.steps=20",
        )
    )
    records = {r.row: r.seconds_per_image for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")}
    rns, zero_shot = records["rns"], records["zero_shot"]
    assert rns["extraction_test"] > 0 and rns["extraction_support"] > 0 and rns["proposals"] is None
    assert set(rns) >= {"method", "method_training_set", "method_training", "method_prediction", "support"}
    assert rns["method_training"] <= rns["method"]  # a part of the prediction's cost
    assert rns["method_training_set"] + rns["method_training"] + rns["method_prediction"] <= rns["method"] * 1.01
    assert "method_training" not in zero_shot and zero_shot["method"] > 0
    run_sweep(
        bench_config(
            tmp_path,
            toy_data_root,
            "shots=[1]",
            "seeds=[100]",
            "test_limit=4",
            "methods=[zero_shot]",
            "rows.zero_shot.options.logit_scale=50.0",
        )
    )
    again = [
        r
        for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")
        if r.method_options.get("logit_scale") == 50.0
    ]
    assert again[0].seconds_per_image["extraction_test"] is None  # every test feature came from the cache
