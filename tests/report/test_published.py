"""The transcription of the paper's tables holds together: every Δ the text prints, every average,
and Table 3's A as the class-weighted mean of S and U."""

from __future__ import annotations

from collections import defaultdict

import pytest

from rns_bench.report.published import published_values

VALUES = published_values()


def _hit(table, method_row, dataset, shots=None, fraction=0.0, subset="A", backbone=None):
    (hit,) = [
        v
        for v in VALUES
        if v.table == table
        and v.method_row == method_row
        and v.dataset == dataset
        and v.shots == shots
        and v.unseen_fraction == fraction
        and v.subset == subset
        and (backbone is None or v.backbone == backbone)
    ]
    return hit


def _value(*args, **kwargs):
    return _hit(*args, **kwargs).value


@pytest.mark.parametrize(
    ("table", "row", "deltas"),
    [
        ("table1", "rns_wo_relevance", (-0.39, -0.44, -0.48)),
        ("table1", "rns_single_alpha", (-5.19, -1.32, -0.64)),
        ("table1", "rns_wo_text", (-7.48, -2.16, -1.02)),
        ("table5", "rns_k1", (-1.57, -1.04, -0.96)),
        ("table5", "rns_k16", (0.38, -0.09, -0.06)),
        ("table5", "rns_k32", (0.43, -0.28, -0.18)),
    ],
)
def test_each_printed_difference_to_the_first_row_holds(table, row, deltas):
    for shots, delta in zip((1, 5, 10), deltas, strict=True):
        assert _value(table, row, "mean6", shots) == pytest.approx(
            _value(table, "rns", "mean6", shots) + delta, abs=1e-6
        )


def test_table5_default_row_is_table1_first_row():
    for shots in (1, 5, 10):
        assert _value("table5", "rns", "mean6", shots) == _value("table1", "rns", "mean6", shots)


@pytest.mark.parametrize(("dataset", "num_classes"), [("voc", 21), ("ade", 150)])
def test_table3_all_classes_is_the_weighted_mean_of_seen_and_unseen(dataset, num_classes):
    for row in ("zero_shot", "rns", "rns_full_reference"):
        for fraction in (0.1, 0.5, 0.9):
            unseen = int(fraction * num_classes)  # rns spec §5: the first int(f·K) classes
            hits = [_hit("table3", row, dataset, None, fraction, x) for x in "SUA"]
            if not all(h.resolved for h in hits):
                continue  # marked in the file, with why
            s, u, a = (h.value for h in hits)
            assert a == pytest.approx(((num_classes - unseen) * s + unseen * u) / num_classes, abs=0.02)


def test_table3_reference_rows_do_not_depend_on_the_fraction():
    for dataset in ("voc", "ade"):
        for row in ("zero_shot", "rns_full_reference"):
            assert len({_value("table3", row, dataset, None, f, "A") for f in (0.1, 0.5, 0.9)}) == 1


def test_table4_averages_match_their_rows():
    rows = defaultdict(dict)
    for v in VALUES:
        if v.table == "table4":
            rows[(v.row, v.backbone)][v.dataset] = v.value
    assert len(rows) == 7  # zero-shot, B = 1, B = 20 per backbone; the fully supervised bound
    for values in rows.values():
        datasets = [values[d] for d in ("voc", "cityscapes", "ade", "context59", "food", "cub")]
        assert values["mean_table4"] == pytest.approx(sum(datasets) / 6, abs=0.051)


def test_only_the_inconsistent_voc_cell_is_marked_unresolved():
    marked = {(v.table, v.method_row, v.dataset, v.unseen_fraction) for v in VALUES if not v.resolved}
    assert marked == {("table3", "rns", "voc", 0.9)}


def test_make_clean_results_leaves_the_papers_numbers(tmp_path):
    """The published values are package data, not under results/ (which `make clean-results` deletes)."""
    import subprocess

    from rns_bench.report.published import PUBLISHED_CSV

    assert PUBLISHED_CSV.is_file() and "results" not in PUBLISHED_CSV.relative_to(PUBLISHED_CSV.parents[3]).parts
    dry = subprocess.run(
        ["make", "-n", "clean-results"], capture_output=True, text=True, cwd=PUBLISHED_CSV.parents[3], check=True
    ).stdout
    assert "rm -rf results" in dry and "report" not in dry
