"""Leaderboard tables from hand-made records: mean ± std over seeds, ranking, closed-vocabulary marks."""

from __future__ import annotations

import dataclasses

from rns_bench.report.leaderboard import DeclaredRun, sweep_records, write_leaderboard
from rns_bench.report.tables import leaderboard_table
from rns_bench.runs.fingerprint import config_fingerprint, fingerprint
from rns_bench.runs.records import RunRecord


def record(
    row: str,
    shots: int,
    miou: float,
    unpredictable: list[str] | None = None,
    *,
    images: int = 500,
    options: dict | None = None,
    seed: int = 0,
    test_limit: int | None = None,
) -> RunRecord:
    metrics = {"mIoU": miou}
    if unpredictable is not None:
        metrics["unpredictable_classes"] = unpredictable
    identity = {
        "method": {"name": row, "options": options or {"k": 8}},
        "data": {"num_test_images": images},
        "run": {"shots": shots, "seed": seed},
    }
    return RunRecord.from_json(
        {
            "row": row,
            "shots": shots,
            "seed": seed,
            "metrics": metrics,
            "num_test_images": images,
            "identity": identity,
            "config": {"test_limit": test_limit},
            "fingerprint": fingerprint(identity),
            "config_fingerprint": config_fingerprint(identity),
        }
    )


def test_cells_are_mean_and_sample_std_over_seeds_best_row_first():
    records = [record("rns", 1, 40.0), record("rns", 1, 44.0), record("zero_shot", 1, 20.0), record("rns", 5, 60.0)]
    lines = leaderboard_table(records).splitlines()
    assert lines[0] == "| method | B = 1 | B = 5 | test images |"
    # stdev(40, 44) = 2.828; 95 % interval 42 ± t(0.975, 1) · 2.828 / √2 = 42 ± 12.706 · 2
    assert lines[2] == "| rns | 42.00 ± 2.83 [16.59, 67.41] (n=2) | 60.00 (n=1) | 500 |"
    assert lines[3] == "| zero_shot | 20.00 (n=1) | – | 500 |"  # one seed: no spread to show


def test_closed_vocabulary_rows_are_marked_with_their_worst_run(tmp_path):
    records = [record("rns", 1, 40.0), record("finetune", 1, 50.0, []), record("finetune", 1, 30.0, ["cat", "dog"])]
    text = write_leaderboard(records, tmp_path, "toy")
    assert (
        "| finetune † | 40.00 ± 14.14 [0.00, 100.00] (n=2) | 500 |" in text
    )  # 40 ± 127: clipped and "| rns | 40.00" in text
    assert "most classes unpredictable in one run: finetune 2" in text
    assert {p.name for p in tmp_path.iterdir()} == {"leaderboard.md", "leaderboard.csv", "leaderboard.png"}


def test_the_closed_vocabulary_note_says_when_every_class_had_support(tmp_path):
    text = write_leaderboard([record("linear_patches", 1, 50.0, [])], tmp_path, "toy")
    assert "| linear_patches † |" in text and "every class had visual support in these runs" in text


def _run(r: RunRecord, seed: int = 0) -> DeclaredRun:
    return DeclaredRun(r.row, r.shots, seed, r.fingerprint, r.identity)


def test_the_sweep_shows_its_own_runs_and_counts_every_other_record_by_reason(tmp_path):
    mine = [record("rns", 1, 48.0, seed=1), record("rns", 1, 52.0, seed=2), record("zero_shot", 1, 20.0, seed=1)]
    others = [
        record("rns", 1, 36.15, seed=1, images=4, test_limit=4),  # smoke run of a declared cell
        record("rns", 1, 30.0, seed=1, options={"k": 32}),  # ad-hoc option
        record("rns", 5, 60.0, seed=1),
        record("rns", 1, 61.0, seed=7),  # undeclared B, seed
        record("finetune", 1, 70.0, seed=1),
        dataclasses.replace(record("rns", 1, 1.0, seed=3), metrics={"mIoU": "high"}),
    ]
    declared = [_run(r, r.seed) for r in mine] + [_run(record("zero_shot", 1, 0.0, seed=2), 2)]
    shown, left_out = sweep_records(mine + others, declared, "toy")
    assert shown == mine
    text = write_leaderboard(shown, tmp_path, "toy", left_out)
    assert "| rns | 50.00 ± 2.83 [24.59, 75.41] (n=2) | 500 |" in text  # 14 seeds in the folder would not change n
    assert "| 1 | smoke run: test_limit=4 (4 test images; this sweep: 500) | rns | toy |" in text
    assert "| 1 | another config: differs in method.options.k | rns | toy |" in text
    assert "| 1 | B = 5 is not declared by this sweep (shots: 1) | rns | toy |" in text
    assert "| 1 | seed 7 is not declared by this sweep (seeds: 1, 2) | rns | toy |" in text
    assert "| 1 | row finetune is not run by this sweep (methods: rns, zero_shot) | finetune | toy |" in text
    assert "metrics.mIoU='high' is not a number" in text
    assert "36.15" not in text and "61.00" not in text
    csv_rows = (tmp_path / "leaderboard.csv").read_text().splitlines()
    assert csv_rows[0] == "method,metric,shots,mean,std,ci_low,ci_high,num_seeds,test_images,paper,paper_source"
    assert csv_rows[1:] == ["rns,mIoU,1,50.0000,2.8284,24.5876,75.4124,2,500,,", "zero_shot,mIoU,1,20.0000,,,,1,500,,"]


def test_a_leaderboard_without_left_out_records_has_no_such_section(tmp_path):
    mine = [record("rns", 1, 40.0, seed=1)]
    shown, left_out = sweep_records(mine, [_run(mine[0], 1)], "toy")
    assert "Left out" not in write_leaderboard(shown, tmp_path, "toy", left_out)
