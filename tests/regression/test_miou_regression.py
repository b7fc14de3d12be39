"""CI regression of mIoU: a reduced toy benchmark against committed expected values.

A change that moves any number by more than TOLERANCE mIoU points fails here until the
expectation is updated on purpose:

    RNS_UPDATE_EXPECTED=1 .venv/bin/python -m pytest tests/regression   # then commit the JSON
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench_config import bench_config

from rns_bench.bench.sweep import run_sweep
from rns_bench.runs.records import read_records

EXPECTED = Path(__file__).with_name("expected_miou.json")
# Same machine → identical numbers; the slack absorbs float reordering on other CPUs/BLAS
# builds (a handful of pixels), far below the effect of any real change to a method.
TOLERANCE = 0.3
REDUCED = (
    "methods=[zero_shot,rns,rns_wo_text,knn_clip,freeda,linear_class_features]",
    "shots=[1,5]",
    "seeds=[100,18]",
    "test_limit=32",
    "tune_missing=false",
)  # offline rows at their configured options


def test_reduced_toy_benchmark_matches_expected_miou(tmp_path, toy_data_root):
    run_sweep(bench_config(tmp_path, toy_data_root, *REDUCED))
    measured = {
        f"{r.row}/B{r.shots}/seed{r.seed}": round(r.metrics["mIoU"], 3)
        for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")
    }
    if os.environ.get("RNS_UPDATE_EXPECTED") == "1":
        EXPECTED.write_text(
            json.dumps({"tolerance": TOLERANCE, "config": list(REDUCED), "mIoU": measured}, indent=2, sort_keys=True)
            + "\n"
        )
    expected = json.loads(EXPECTED.read_text())
    assert expected["config"] == list(REDUCED), "the reduced benchmark changed: update the expectation"
    assert set(measured) == set(expected["mIoU"])
    moved = {
        run: (expected["mIoU"][run], value)
        for run, value in measured.items()
        if abs(value - expected["mIoU"][run]) > TOLERANCE
    }
    assert not moved, f"mIoU moved beyond ±{TOLERANCE} (expected, measured): {moved}"
    # The benchmark's basic ordering (issue acceptance): RNS above zero-shot at every B and seed.
    for run, value in measured.items():
        if run.startswith("rns/"):
            assert value > measured["zero_shot/" + run.split("/", 1)[1]] + 5
