"""Leaderboard tables from hand-made records: mean ± std over seeds, ranking, closed-vocabulary marks."""

from __future__ import annotations

from rns_bench.bench.leaderboard import markdown_table, write_leaderboard
from rns_bench.runs.fingerprint import config_fingerprint


def record(row: str, shots: int, miou: float, unpredictable: list[str] | None = None, *, images: int = 500,
           options: dict | None = None) -> dict:
    metrics = {"mIoU": miou}
    if unpredictable is not None:
        metrics["unpredictable_classes"] = unpredictable
    identity = {"method": {"options": options or {}}, "data": {"num_test_images": images}}
    return {"row": row, "shots": shots, "metrics": metrics, "num_test_images": images, "identity": identity,
            "config_fingerprint": config_fingerprint(identity)}


def test_cells_are_mean_and_sample_std_over_seeds_best_row_first():
    records = [record("rns", 1, 40.0), record("rns", 1, 44.0), record("zero_shot", 1, 20.0),
               record("rns", 5, 60.0)]
    lines = markdown_table(records).splitlines()
    assert lines[0] == "| method | B = 1 | B = 5 | test images |"
    assert lines[2] == "| rns | 42.00 ± 2.83 (n=2) | 60.00 ± 0.00 (n=1) | 500 |"  # stdev(40, 44) = 2.828
    assert lines[3] == "| zero_shot | 20.00 ± 0.00 (n=1) | – | 500 |"


def test_closed_vocabulary_rows_are_marked_with_their_worst_run(tmp_path):
    records = [record("rns", 1, 40.0), record("finetune", 1, 50.0, []),
               record("finetune", 1, 30.0, ["cat", "dog"])]
    text = write_leaderboard(records, tmp_path, "toy")
    assert "| finetune † | 40.00 ± 14.14 (n=2) | 500 |" in text and "| rns | 40.00" in text
    assert "most classes unpredictable in one run: finetune 2" in text
    assert {p.name for p in tmp_path.iterdir()} == {"leaderboard.md", "leaderboard.csv", "leaderboard.png"}


def test_the_closed_vocabulary_note_says_when_every_class_had_support(tmp_path):
    text = write_leaderboard([record("linear_patches", 1, 50.0, [])], tmp_path, "toy")
    assert "| linear_patches † |" in text and "every class had visual support in these runs" in text


def test_records_of_two_configs_are_two_lines_and_a_note_says_what_differs(tmp_path):
    smoke = [record("rns", 1, 36.15, images=4), record("rns", 1, 30.0, images=4)]
    full = [record("rns", 1, 48.74, images=500)]
    text = write_leaderboard(smoke + full, tmp_path, "toy", current={full[0]["config_fingerprint"]})
    assert "| rns | 48.74 ± 0.00 (n=1) | 500 |" in text  # this sweep's config keeps the row's name
    short = smoke[0]["config_fingerprint"][:6]
    assert f"| rns ⟨{short}⟩ | 33.08 ± 4.35 (n=2) | 4 |" in text
    assert "⚠ rns: records of 2 configs disagree in fingerprint" in text
    assert "differ in data.num_test_images" in text and "rns (this sweep): 500 test images" in text


def test_a_changed_option_is_named_in_the_note(tmp_path):
    text = write_leaderboard([record("rns", 1, 40.0, options={"k": 8}), record("rns", 1, 41.0, options={"k": 16})],
                             tmp_path, "toy")
    assert "differ in method.options.k" in text
    assert text.count("| rns ⟨") == 2  # no sweep named: neither config is the plain row
