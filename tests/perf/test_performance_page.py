"""``make perf-docs``: the printed figures become docs/performance.md, with the date, command and machine."""

from __future__ import annotations

import datetime

from rns_bench.perf.markdown import performance_page, write_performance_page


def test_the_page_holds_the_output_date_command_and_machine():
    page = performance_page("K 21: 38.9 img/s\n", "python -m rns_bench.perf --short", datetime.date(2025, 1, 2))
    assert page.startswith("# Performance figures\n")
    assert "Generated on 2025-01-02 by `python -m rns_bench.perf --short` on: CPU " in page
    assert "GPU " in page and "cores" in page
    assert "```\nK 21: 38.9 img/s\n```\n" in page


def test_the_figures_still_print_and_land_in_the_page(tmp_path, capsys):
    path = tmp_path / "performance.md"
    write_performance_page(path, lambda: print("figure 1.0"), "python -m rns_bench.perf --short")
    assert "figure 1.0" in capsys.readouterr().out
    assert "```\nfigure 1.0\n```" in path.read_text()
