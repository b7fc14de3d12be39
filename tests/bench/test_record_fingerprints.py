"""Records know their config: a sweep skips a run only when a record of the same fingerprint exists;
records it cannot use are moved aside (kept) and re-run; the leaderboard shows the sweep's own runs and
lists the rest."""

from __future__ import annotations

import json
import stat

import pytest
from bench_config import bench_config

from rns_bench.bench.sweep import run_sweep
from rns_bench.runs.records import read_records

ONE_RUN = ("shots=[1]", "seeds=[100]", "methods=[zero_shot]")
ROW = ("toy", "toy_vlm", "full", "zero_shot")


def _records(tmp_path):
    return [r.to_json() for r in read_records(tmp_path / "results", *ROW[:3])]


def _row_dir(tmp_path):
    return tmp_path.joinpath("results", *ROW)


def test_a_smoke_run_is_not_reused_by_the_full_sweep(tmp_path, toy_data_root, capsys):
    smoke = bench_config(tmp_path, toy_data_root, *ONE_RUN, "test_limit=4")
    run_sweep(smoke)
    capsys.readouterr()
    full = bench_config(tmp_path, toy_data_root, *ONE_RUN)
    board = run_sweep(full)
    out = capsys.readouterr().out
    assert "0 of 1 runs already have records of this config; running 1." in out
    records = {r["num_test_images"]: r for r in _records(tmp_path)}
    assert set(records) == {4, 80}  # both kept, side by side
    assert records[4]["config_fingerprint"] != records[80]["config_fingerprint"]
    full_miou = records[80]["metrics"]["mIoU"]
    assert f"| zero_shot | {full_miou:.2f} (n=1) | 80 |" in board  # this sweep's run only: the full numbers
    assert sum(line.startswith("| zero_shot") for line in board.splitlines()) == 1
    assert "| 1 | smoke run: test_limit=4 (4 test images; this sweep: 80) | zero_shot | toy |" in board
    capsys.readouterr()
    run_sweep(full)  # nothing changed: nothing re-runs
    assert "1 of 1 runs already have records of this config; running 0." in capsys.readouterr().out


def test_records_are_readable_by_the_team(tmp_path, toy_data_root):
    run_sweep(bench_config(tmp_path, toy_data_root, *ONE_RUN, "test_limit=4"))
    (path,) = _row_dir(tmp_path).glob("B1_seed100-*.json")
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode & 0o044 == 0o044, oct(mode)  # group and others may read (a shared results folder)
    record = json.loads(path.read_text())
    assert path.name == f"B1_seed100-{record['fingerprint'][:12]}.json"


def test_a_record_from_before_fingerprints_is_kept_aside_and_rerun(tmp_path, toy_data_root, capsys):
    cfg = bench_config(tmp_path, toy_data_root, *ONE_RUN, "test_limit=4")
    run_sweep(cfg)
    (path,) = _row_dir(tmp_path).glob("B1_seed100-*.json")
    fresh = json.loads(path.read_text())
    old = {k: v for k, v in fresh.items() if k not in ("fingerprint", "config_fingerprint", "identity")}
    old["metrics"] = {**old["metrics"], "mIoU": 1.0}
    legacy = path.with_name("B1_seed100.json")
    legacy.write_text(json.dumps(old))
    assert [r["metrics"]["mIoU"] for r in _records(tmp_path)] == [fresh["metrics"]["mIoU"]]  # never counted
    capsys.readouterr()
    run_sweep(cfg)
    out = capsys.readouterr().out
    assert "1 record file(s) could not be used" in out and "B1_seed100.before-fingerprints.json" in out
    kept = path.parent / "stale" / "B1_seed100.before-fingerprints.json"
    assert json.loads(kept.read_text())["metrics"]["mIoU"] == 1.0 and not legacy.exists()


def test_a_truncated_record_is_named_moved_aside_and_rerun(tmp_path, toy_data_root, capsys):
    cfg = bench_config(tmp_path, toy_data_root, *ONE_RUN, "test_limit=4")
    run_sweep(cfg)
    (path,) = _row_dir(tmp_path).glob("B1_seed100-*.json")
    good = json.loads(path.read_text())
    path.write_text(path.read_text()[:40])
    capsys.readouterr()
    run_sweep(cfg)
    out = capsys.readouterr().out
    assert "running 1" in out and f"{path.stem}.unreadable.json" in out
    assert json.loads(path.read_text())["metrics"] == good["metrics"]
    assert (path.parent / "stale" / f"{path.stem}.unreadable.json").read_text() == json.dumps(
        good, indent=2, sort_keys=True
    )[:40]


@pytest.mark.parametrize("field, bad", [("metrics.mIoU", "high"), ("shots", "1")])
def test_a_record_whose_numbers_are_not_numbers_is_moved_aside_and_rerun(tmp_path, toy_data_root, capsys, field, bad):
    cfg = bench_config(tmp_path, toy_data_root, *ONE_RUN, "test_limit=4")
    run_sweep(cfg)
    (path,) = _row_dir(tmp_path).glob("B1_seed100-*.json")
    good = json.loads(path.read_text())
    broken = json.loads(path.read_text())
    if field == "shots":
        broken["shots"] = bad
    else:
        broken["metrics"]["mIoU"] = bad
    path.write_text(json.dumps(broken))
    capsys.readouterr()
    board = run_sweep(cfg)  # no crash: the record is not counted as done, nor averaged
    out = capsys.readouterr().out
    assert "running 1" in out and f"{path.stem}.unusable.json" in out
    assert json.loads(path.read_text())["metrics"] == good["metrics"]  # re-run, same numbers
    assert f"| zero_shot | {good['metrics']['mIoU']:.2f} (n=1) | 4 |" in board
