"""Tables of the reports as text: an experiment's markdown, CSV and LaTeX (and Fig. 13's runtime
section), and a sweep's leaderboard (markdown and CSV: mean ± std over seeds, n). Every file is written
atomically: a killed report leaves the old file or none, and a symlink planted at an output path is
replaced, never followed."""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rns_bench.core.atomic_io import write_text_atomic
from rns_bench.report.cells import Cell, CellKey, mean_std, runtime_points, seed_values
from rns_bench.report.spec import ExperimentSpec, column_name, subset_suffix
from rns_bench.runs.records import RunRecord


def fmt(value: float | None, signed: bool = False) -> str:
    return "–" if value is None else (f"{value:+.2f}" if signed else f"{value:.2f}")


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """``rows`` under ``header`` as CSV at ``path`` (None as an empty field), atomically."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(path, out.getvalue())


# An experiment's report ---------------------------------------------------------------------------


def _headers(spec: ExperimentSpec) -> list[tuple[Any, str]]:
    return [(c, s) for c in spec.column_values() for s in spec.subsets]


def _heading(spec: ExperimentSpec, column: Any, subset: str) -> str:
    return f"{column_name(spec, column)}{subset_suffix(spec, subset)}"


def _by_label(table: list[dict]) -> dict[str, dict[tuple[Any, str], dict]]:
    by_row: dict[str, dict[tuple[Any, str], dict]] = defaultdict(dict)
    for r in table:
        by_row[r["label"]][(r["column"], r["subset"])] = r
    return by_row


def report_markdown(
    spec: ExperimentSpec, backbone: str, table: list[dict], cells: dict[CellKey, Cell], notes: list[str]
) -> str:
    """The report's tables: ours / paper / Δ per cell, then the seed means per dataset, then the notes."""
    headers = _headers(spec)
    names = [_heading(spec, c, s) for c, s in headers]
    scope = ", ".join(spec.average_over) or "the datasets present"
    lines = [
        f"# {spec.title}",
        "",
        f"backbone {backbone} · mean over {scope}; mIoU (%); cells: ours / paper / Δ (datasets, runs, test images)",
        "",
        *([spec.declared.summary(), ""] if spec.declared else []),
        "| method | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label, entries in _by_label(table).items():
        cells_text = [
            f"{fmt(e['ours'])} / {fmt(e['paper'])} / {fmt(e['diff'], True)} "
            f"({e['datasets']}, {e['runs']}, {e['test_images']})"
            for e in (entries[h] for h in headers)
        ]
        lines.append(f"| {label} | " + " | ".join(cells_text) + " |")
    if spec.columns != "dataset":
        lines += _per_dataset(spec, cells)
    if notes:
        lines += ["", *[f"* {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def _per_dataset(spec: ExperimentSpec, cells: dict[CellKey, Cell]) -> list[str]:
    """The seed mean of every cell on each dataset (none when no cell has records)."""
    datasets = sorted({d for cell in cells.values() for d in cell.per_dataset})
    if not datasets:
        return []
    lines = [
        "",
        "## Per dataset (mean over seeds)",
        "",
        "| method | column | " + " | ".join(datasets) + " |",
        "|---|---|" + "---|" * len(datasets),
    ]
    for row, label in spec.rows.items():
        for column, subset in _headers(spec):
            cell = cells.get((row, column, subset))
            if cell:
                values = " | ".join(fmt(cell.per_dataset.get(d)) for d in datasets)
                lines.append(f"| {label} | {_heading(spec, column, subset)} | {values} |")
    return lines


def write_report_csv(path: Path, table: list[dict]) -> None:
    header = list(table[0]) if table else ["row"]
    write_csv(path, header, [[entry[key] for key in header] for entry in table])


def report_latex(spec: ExperimentSpec, table: list[dict]) -> str:
    headers = _headers(spec)
    names = [_heading(spec, c, s) for c, s in headers]
    lines = [
        r"\begin{tabular}{l" + "rr" * len(headers) + "}",
        r"\toprule",
        "Method & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{{n}}}" for n in names) + r" \\",
        " & " + " & ".join("ours & paper" for _ in headers) + r" \\",
        r"\midrule",
    ]
    for label, entries in _by_label(table).items():
        values = " & ".join(f"{fmt(entries[h]['ours'])} & {fmt(entries[h]['paper'])}" for h in headers)
        latex_label = label.replace("α", r"$\alpha$")
        lines.append(f"{latex_label} & {values} " + r"\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines).replace("–", "--").replace("%", r"\%") + "\n"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def runtime_section(spec: ExperimentSpec, table: list[dict], cells: dict[CellKey, Cell]) -> str:
    """Fig. 13 as a table: each row's inference seconds per test image, by part, and its mIoU."""
    lines = [
        "",
        "## mIoU vs inference seconds per image",
        "",
        "Inference = test feature extraction + region proposals (both shared by every row of a backbone; "
        "measured by the run that computed them, – when every run read them from the cache) + the "
        "method's own seconds. Support features and support building are per support set, not per test "
        "image, and are left out, as in the paper's Fig. 13.",
        "",
        "| method | extraction s | proposals s | method s | inference s / image | mIoU |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {p.label} | {_seconds(p.pipeline.get('extraction_test'))} | {_seconds(p.pipeline.get('proposals'))} "
        f"| {p.method:.4f} | {p.total:.4f} | {p.miou:.2f} |"
        for p in runtime_points(spec, table, cells)
    ]
    return "\n".join(lines) + "\n"


# A sweep's leaderboard ----------------------------------------------------------------------------


def ordered_rows(table: dict[str, dict[int, list[float]]]) -> list[str]:
    """The rows of :func:`rns_bench.report.cells.seed_values`, best first by the mean over shot counts
    of their seed means, so the table reads as a ranking."""
    return sorted(table, key=lambda row: -statistics.fmean(mean_std(v)[0] for v in table[row].values()))


def closed_vocabulary_rows(records: list[RunRecord]) -> dict[str, int]:
    """Rows of closed-vocabulary methods (their records list ``unpredictable_classes``) → the most
    classes any of their runs could not predict."""
    worst: dict[str, int] = {}
    for record in records:
        if "unpredictable_classes" in record.metrics:
            count = len(record.metrics["unpredictable_classes"])
            worst[record.row] = max(worst.get(record.row, 0), count)
    return worst


def test_image_counts(records: list[RunRecord]) -> dict[str, str]:
    """line label → the number(s) of test images its runs were scored on."""
    counts: dict[str, set] = defaultdict(set)
    for record in records:
        if record.num_test_images is not None:
            counts[record.row].add(int(record.num_test_images))
    return {row: "/".join(str(n) for n in sorted(values)) for row, values in counts.items()}


def leaderboard_table(records: list[RunRecord], metric: str = "mIoU") -> str:
    """Rows = methods, columns = shots, cells = mean ± std over seeds (n seeds); closed-vocabulary
    rows are marked †."""
    closed = closed_vocabulary_rows(records)
    table = seed_values(records, metric)
    images = test_image_counts(records)
    shots = sorted({b for row in table.values() for b in row})
    lines = [f"| method | {' | '.join(f'B = {b}' for b in shots)} | test images |", "|---|" + "---|" * (len(shots) + 1)]
    for row in ordered_rows(table):
        cells = []
        for b in shots:
            values = table[row].get(b)
            cells.append("–" if not values else "{:.2f} ± {:.2f} (n={})".format(*mean_std(values), len(values)))
        lines.append(f"| {row}{' †' if row in closed else ''} | {' | '.join(cells)} | {images.get(row, '?')} |")
    return "\n".join(lines)


def write_leaderboard_csv(records: list[RunRecord], path: Path, metrics: tuple[str, ...] = ("mIoU",)) -> None:
    """One line per method, metric and B: mean, std, the number of seeds and of test images (a smoke run
    is told from a full one in the CSV too)."""
    rows, images = [], test_image_counts(records)
    for metric in metrics:
        table = seed_values(records, metric)
        for row in ordered_rows(table):
            for b in sorted(table[row]):
                mean, std = mean_std(table[row][b])
                rows.append([row, metric, b, f"{mean:.4f}", f"{std:.4f}", len(table[row][b]), images.get(row, "")])
    write_csv(path, ["method", "metric", "shots", "mean", "std", "num_seeds", "test_images"], rows)
