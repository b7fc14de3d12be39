"""Method rows are config groups (options overridable and declarable inline), the Trainer takes any
Lightning argument, and W&B gets one run per record."""

from __future__ import annotations

import json

from bench_config import bench_config

from rns_bench.bench.sweep import run_sweep
from rns_bench.runs.records import read_records

SMALL = ("shots=[1]", "seeds=[100]", "test_limit=4")


def _by_row(tmp_path):
    records = [r.to_json() for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")]
    return {(r["row"], r["identity"]["method"]["options"].get("k")): r for r in records}


def test_overriding_one_row_option_reruns_only_that_row(tmp_path, toy_data_root, capsys):
    run_sweep(bench_config(tmp_path, toy_data_root, *SMALL, "methods=[zero_shot,rns]"))
    capsys.readouterr()
    board = run_sweep(bench_config(tmp_path, toy_data_root, *SMALL, "methods=[zero_shot,rns]", "rows.rns.options.k=16"))
    assert "1 of 2 runs already have records of this config; running 1." in capsys.readouterr().out
    records = _by_row(tmp_path)
    assert set(records) == {("zero_shot", None), ("rns", 4), ("rns", 16)}
    assert records[("rns", 16)]["method_options"]["k"] == 16
    assert records[("rns", 16)]["fingerprint"] != records[("rns", 4)]["fingerprint"]
    assert "| 1 | another config: differs in method.options.k, method.row_options.k | rns | toy |" in board, board


def test_a_row_declared_inline_runs_under_its_own_name(tmp_path, toy_data_root):
    run_sweep(
        bench_config(tmp_path, toy_data_root, *SMALL, "+rows.rns_k8={method: rns, options: {k: 8}}", "methods=[rns_k8]")
    )
    (record,) = [r.to_json() for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")]
    assert record["row"] == "rns_k8" and record["method"] == "rns" and record["method_options"] == {"k": 8}


def test_any_trainer_argument_is_accepted_and_recorded(tmp_path, toy_data_root):
    run_sweep(
        bench_config(
            tmp_path,
            toy_data_root,
            *SMALL,
            "methods=[zero_shot]",
            "trainer.num_nodes=1",
            "trainer.precision=32-true",
            "+trainer.deterministic=true",
        )
    )
    (record,) = [r.to_json() for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")]
    assert record["config"]["trainer"]["num_nodes"] == 1 and record["config"]["trainer"]["deterministic"] is True
    assert record["identity"]["evaluation"]["precision"] == "32-true"


def test_two_rows_with_wandb_give_two_wandb_runs_with_per_class_iou(tmp_path, toy_data_root, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_sweep(bench_config(tmp_path, toy_data_root, *SMALL, "methods=[zero_shot,rns]", "logger.wandb.enabled=true"))
    runs = sorted((tmp_path / "results" / "logs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 2
    records = [r.to_json() for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")]
    per_class = {r["row"]: r["metrics"]["per_class_IoU"] for r in records}
    matched = set()
    for run in runs:
        (table_file,) = run.glob("files/media/table/per_class_IoU_*.table.json")
        table = json.loads(table_file.read_text())
        assert table["columns"] == ["class", "IoU"] and len(table["data"]) == 16  # toy's 16 classes
        values = {name: value for name, value in table["data"]}
        matched |= {row for row, ious in per_class.items() if ious == values}  # each run holds one record's table
        assert (run / f"run-{run.name.rsplit('-', 1)[-1]}.wandb").stat().st_size > 0
    assert matched == {"zero_shot", "rns"}
