"""Leaderboard tables from hand-made records: mean ± std over seeds, ranking, closed-vocabulary marks."""

from __future__ import annotations

from rns_bench.bench.leaderboard import markdown_table, write_leaderboard


def record(row: str, shots: int, miou: float, unpredictable: list[str] | None = None) -> dict:
    metrics = {"mIoU": miou}
    if unpredictable is not None:
        metrics["unpredictable_classes"] = unpredictable
    return {"row": row, "shots": shots, "metrics": metrics}


def test_cells_are_mean_and_sample_std_over_seeds_best_row_first():
    records = [record("rns", 1, 40.0), record("rns", 1, 44.0), record("zero_shot", 1, 20.0),
               record("rns", 5, 60.0)]
    lines = markdown_table(records).splitlines()
    assert lines[0] == "| method | B = 1 | B = 5 |"
    assert lines[2] == "| rns | 42.00 ± 2.83 (n=2) | 60.00 ± 0.00 (n=1) |"  # stdev(40, 44) = 2.828
    assert lines[3] == "| zero_shot | 20.00 ± 0.00 (n=1) | – |"


def test_closed_vocabulary_rows_are_marked_with_their_worst_run(tmp_path):
    records = [record("rns", 1, 40.0), record("finetune", 1, 50.0, []),
               record("finetune", 1, 30.0, ["cat", "dog"])]
    text = write_leaderboard(records, tmp_path, "toy")
    assert "| finetune † | 40.00 ± 14.14 (n=2) |" in text and "| rns | 40.00" in text
    assert "most classes unpredictable in one run: finetune 2" in text
    assert {p.name for p in tmp_path.iterdir()} == {"leaderboard.md", "leaderboard.csv", "leaderboard.png"}


def test_the_closed_vocabulary_note_says_when_every_class_had_support(tmp_path):
    text = write_leaderboard([record("linear_patches", 1, 50.0, [])], tmp_path, "toy")
    assert "| linear_patches † |" in text and "every class had visual support in these runs" in text
