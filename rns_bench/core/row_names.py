"""How an experiment names its report rows (``experiment.rows`` keys), and the method rows they run.

A report row is a method row (``rns``), a row at a fixed B (``rns@20``: Table 4's columns), the same row
with support from another dataset (``rns~ood``: Fig. 9) or the full-support reference of a partial table
(``rns_full_reference``: RNS's records in the ``full`` folder). The sweep runs each method row once, so an
experiment lists its rows once: ``methods`` is derived from them (the ``experiment_methods`` resolver).
"""

from __future__ import annotations

from collections.abc import Iterable

OUT_OF_DOMAIN = "~ood"
FULL_REFERENCE = "rns_full_reference"  # report row: RNS with full support, beside a partial-support column


def method_row_of(report_row: str) -> str:
    """The method row whose records report row ``report_row`` shows (``rns@20~ood`` → ``rns``)."""
    name = report_row.removesuffix(OUT_OF_DOMAIN).partition("@")[0]
    return "rns" if name == FULL_REFERENCE else name


def experiment_methods(report_rows: Iterable[str] | None, default: Iterable[str]) -> list[str]:
    """The method rows a sweep runs: those of an experiment's report rows in order, else ``default``."""
    if report_rows is None:
        return list(default)
    return list(dict.fromkeys(method_row_of(str(row)) for row in report_rows))
