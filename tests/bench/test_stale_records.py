"""Records computed through another pixel path (decode / resize) are never reused or counted."""

from __future__ import annotations

import json

from bench_config import bench_config

from rns_bench.bench.records import read_records
from rns_bench.bench.run import run_sweep
from rns_bench.ops.resize import PIXEL_PIPELINE

ONE_RUN = ("shots=[1]", "seeds=[100]", "test_limit=4", "methods=[zero_shot]")


def test_a_record_of_the_old_pixel_path_is_kept_aside_and_rerun(tmp_path, toy_data_root, capsys):
    cfg = bench_config(tmp_path, toy_data_root, *ONE_RUN)
    run_sweep(cfg)
    path = tmp_path / "results" / "toy" / "toy_vlm" / "full" / "zero_shot" / "B1_seed100.json"
    fresh = json.loads(path.read_text())
    assert fresh["pixel_pipeline"] == PIXEL_PIPELINE
    # A record from before the OpenCV pipeline: no stamp, and a number this code would not give.
    old = {k: v for k, v in fresh.items() if k != "pixel_pipeline"}
    old["metrics"] = {**old["metrics"], "mIoU": 1.0}
    path.write_text(json.dumps(old))
    assert read_records(tmp_path / "results", "toy", "toy_vlm", "full") == []  # never counted

    capsys.readouterr()
    board = run_sweep(cfg)
    out = capsys.readouterr().out
    assert "1 records were computed through another pixel path" in out and "running 1" in out
    stale = list((path.parent / "stale").glob("B1_seed100.pil-v0*.json"))
    assert len(stale) == 1 and json.loads(stale[0].read_text())["metrics"]["mIoU"] == 1.0  # kept, not deleted
    rerun = json.loads(path.read_text())
    assert rerun["pixel_pipeline"] == PIXEL_PIPELINE and rerun["metrics"]["mIoU"] == fresh["metrics"]["mIoU"]
    assert "1.00" not in board.split("\n", 3)[-1]  # the leaderboard shows the new number only
    assert [r["metrics"]["mIoU"] for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")] == [
        fresh["metrics"]["mIoU"]]


def test_a_truncated_record_is_rerun_not_counted_as_done(tmp_path, toy_data_root, capsys):
    cfg = bench_config(tmp_path, toy_data_root, *ONE_RUN)
    run_sweep(cfg)
    path = tmp_path / "results" / "toy" / "toy_vlm" / "full" / "zero_shot" / "B1_seed100.json"
    path.write_text(path.read_text()[:40])
    capsys.readouterr()
    run_sweep(cfg)
    assert "running 1" in capsys.readouterr().out
    assert json.loads(path.read_text())["pixel_pipeline"] == PIXEL_PIPELINE
    assert len(list((path.parent / "stale").glob("B1_seed100.unreadable*.json"))) == 1
