"""Sweeps fan out through Hydra's launcher plugins, never a home-made launcher: the submitit launcher
(``hydra/launcher=submitit_slurm`` on a cluster) runs the same jobs on one machine as
``submitit_local``, and its records are those of the cells run one by one in this process (what the
basic launcher does with each job), byte for byte in what they measure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench_config import bench_config

from rns_bench.bench.sweep import run_sweep

pytest.importorskip("hydra_plugins.hydra_submitit_launcher")

# A 2-cell experiment: two rows of Table 5, one job each (a sweep over the methods list).
ROWS = ("rns_k1", "rns")
COMMON = [
    "experiment=table5_k",
    "dataset=toy",
    "shots=[1]",
    "seeds=[100]",
    "test_limit=2",
    "rows.rns_k1.options.steps=20",
    "rows.rns.options.steps=20",
    "extraction.support_prefetch=drawn",
]


def _records(out: Path) -> dict[str, dict]:
    records = {}
    for path in sorted((out / "results" / "toy").rglob("B*_seed*-*.json")):
        record = json.loads(path.read_text())
        records[str(path.relative_to(out / "results"))] = record
    return records


def _cells_in_process(tmp_path: Path, data_root: Path) -> dict[str, dict]:
    """Each cell of the multirun (``methods=[rns_k1],[rns]``) as its own sweep, as a launcher runs a job."""
    out = tmp_path / "basic"
    for row in ROWS:
        run_sweep(bench_config(out, data_root, *COMMON, f"methods=[{row}]"))
    return _records(out)


def _sweep(tmp_path: Path, data_root: Path, name: str, *launcher: str) -> dict[str, dict]:
    out = tmp_path / name
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rns_bench.bench",
            "--multirun",
            *COMMON,
            "methods=" + ",".join(f"[{row}]" for row in ROWS),
            *launcher,
            f"results_dir={out / 'results'}",
            f"cache_dir={out / 'cache'}",
            f"data_root={data_root}",
            f"presence_cache_dir={out / 'presence'}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return _records(out)


@pytest.mark.early
def test_submitit_local_runs_the_cells_as_the_basic_launcher_does(tmp_path, toy_data_root):
    basic = _cells_in_process(tmp_path, toy_data_root)
    submitit = _sweep(
        tmp_path, toy_data_root, "submitit", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"
    )
    jobs = list((tmp_path / "submitit" / "results" / "hydra" / "multirun").rglob(".submitit/*/*_result.pkl"))
    assert len(jobs) == 2  # one submitit job per cell, really run through submitit
    assert len(basic) == 2 and set(submitit) == set(basic)  # same names: same rows, cells and fingerprints
    for name, record in basic.items():
        other = submitit[name]
        assert other["fingerprint"] == record["fingerprint"]
        assert other["metrics"] == record["metrics"], name
        assert other["support_split"] == record["support_split"]
