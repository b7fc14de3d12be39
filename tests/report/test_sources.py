"""Where each published number comes from, shown wherever it is: a footnote per source in the reports
and leaderboards, the paper it quotes for the fully supervised bound, H derived from the paper's S and U."""

from __future__ import annotations

import pytest

from rns_bench.report.build import build_report
from rns_bench.report.leaderboard import TOY_ORDERING, Scope, write_leaderboard
from rns_bench.report.published import published_values
from rns_bench.report.sources import Footnotes, harmonic_mean, leaderboard_lookup, source_text, with_harmonic
from rns_bench.runs.records import RunRecord


def test_every_published_value_names_its_paper_table_and_row():
    for value in published_values():
        assert value.paper == "RNS paper" and value.source.startswith("Table ") and value.row
    bounds = [v for v in published_values() if v.method_row == "fully_supervised"]
    assert {v.dataset for v in bounds} == {"voc", "cityscapes", "ade", "context59", "food", "cub", "mean_table4"}
    voc = next(v for v in bounds if v.dataset == "voc")
    assert voc.value == 90.4 and "Mask2Former [10]" in voc.quoted_from and "DINOv3 [65]" in voc.quoted_from
    assert source_text(voc).startswith("RNS paper Table 4: “Fully Supervised”, quoted from Mask2Former [10]")
    assert all(v.quoted_from for v in bounds if v.dataset != "mean_table4")  # the Avg. is the paper's own


def test_footnotes_number_each_source_once_in_order_of_use():
    notes = Footnotes()
    assert [notes.marker(t) for t in ("a", "b", "a", None)] == ["¹", "²", "¹", ""]
    assert notes.markdown()[-2:] == ["¹ a  ", "² b  "]


def test_h_is_the_harmonic_mean_of_the_papers_own_s_and_u():
    assert harmonic_mean(60.0, 40.0) == pytest.approx(48.0) and harmonic_mean(0.0, 40.0) == 0.0
    assert harmonic_mean(None, 40.0) is None
    derived = [v for v in with_harmonic(published_values()) if v.subset == "H"]
    partial = next(v for v in derived if (v.method_row, v.dataset, v.unseen_fraction) == ("rns", "voc", 0.5))
    assert partial.value == pytest.approx(2 * 76.39 * 50.01 / (76.39 + 50.01)) and "of its S and U" in partial.derived
    assert not any((v.method_row, v.dataset, v.unseen_fraction) == ("rns", "voc", 0.9) for v in derived)  # unresolved


def _record(row: str, shots: int, seed: int, miou: float) -> RunRecord:
    return RunRecord.from_json(
        {"row": row, "shots": shots, "seed": seed, "metrics": {"mIoU": miou}, "num_test_images": 100}
    )


def test_a_leaderboard_shows_the_papers_value_where_the_paper_has_the_cell(tmp_path):
    records = [_record(r, b, s, 50.0 + s / 100) for r in ("zero_shot", "rns") for b in (1, 20) for s in (100, 18)]
    text = write_leaderboard(records, tmp_path, "voc", scope=Scope("voc", "clip_b16", "full_region-sam2"))
    assert "| method | B = 1 | paper B = 1 | B = 20 | paper B = 20 | test images |" in text
    rns = next(line for line in text.splitlines() if line.startswith("| rns |"))
    assert "| 68.60² |" in rns and rns.endswith("| 76.20³ | 100 |")  # Table 4, OpenCLIP + SAM 2.1 on VOC
    assert "| 54.40¹ |" in text  # zero-shot: at every B (it uses no support)
    assert "¹ RNS paper Table 4: “MaskCLIP + SAM (zero-shot)” (no B stated)" in text
    assert "² RNS paper Table 4: “+RNS B=1”" in text and "³ RNS paper Table 4: “+RNS B=20”" in text
    assert "68.6,RNS paper Table 4: “+RNS B=1”" in (tmp_path / "leaderboard.csv").read_text()
    assert TOY_ORDERING not in text
    assert leaderboard_lookup("voc", "clip_b16", "full")("rns", 1, "A") is None  # patch mode: not Table 4's cell
    assert leaderboard_lookup("voc", "siglip2_l16", "full_region-sam2")("rns", 1, "A") is None


def test_a_toy_leaderboard_says_why_its_ranking_is_not_the_papers(tmp_path):
    text = write_leaderboard([_record("rns", 1, 100, 40.0)], tmp_path, "toy", scope=Scope("toy", "toy_vlm", "full"))
    assert TOY_ORDERING in text and "paper B" not in text


def test_table4_shows_the_fully_supervised_bound_with_the_papers_it_quotes(tmp_path):
    (tmp_path / "results").mkdir()
    text = build_report("table4_datasets", tmp_path / "results", "clip_b16")
    bound = next(line for line in text.splitlines() if line.startswith("| Fully supervised (bound) |"))
    cells = [cell.strip() for cell in bound.split("|")[2:-1]]
    assert [c.split(" / ")[1].rstrip("⁰¹²³⁴⁵⁶⁷⁸⁹") for c in cells] == [
        "90.40", "87.00", "63.00", "70.30", "45.10", "84.60", "73.40"
    ]  # fmt: skip
    assert all(c.startswith("– / ") and c.endswith(" / –") for c in cells)  # nothing of ours, nothing missing
    assert "RNS paper Table 4: “Fully Supervised”, quoted from SETR [95] (SETR-MLA)" in text
    assert "missing: Fully supervised" not in text
