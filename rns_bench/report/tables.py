"""Tables of the reports as text: an experiment's markdown, CSV and LaTeX (and Fig. 13's runtime
section), and a sweep's leaderboard (markdown and CSV: mean ± std [95 % interval] over seeds, n, and the
paper's value where it has the cell). Each published value carries a footnote naming its source
(:mod:`rns_bench.report.sources`); the interval's method is stated under every table
(:mod:`rns_bench.report.intervals`). Every file is written atomically: a killed report leaves the old
file or none, and a symlink planted at an output path is replaced, never followed."""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rns_bench.core.atomic_io import write_text_atomic
from rns_bench.report.cells import Cell, CellKey, mean_std, runtime_points, seed_values
from rns_bench.report.intervals import METHOD, Spread, seed_spread
from rns_bench.report.published import PublishedValue
from rns_bench.report.sources import Footnotes, source_text
from rns_bench.report.spec import SUBSETS, ExperimentSpec, column_name, subset_suffix
from rns_bench.runs.records import RunRecord

PaperLookup = Callable[[str, int, str], PublishedValue | None]  # (row, B, subset) → the paper's value


def fmt(value: float | None, signed: bool = False) -> str:
    return "–" if value is None else (f"{value:+.2f}" if signed else f"{value:.2f}")


def with_spread(mean: float | None, std: float | None, low: float | None, high: float | None) -> str:
    """``43.50 ± 1.41 [40.12, 46.88]``; the mean alone where one seed gives no spread."""
    text = fmt(mean)
    if mean is not None and std is not None:
        text += f" ± {std:.2f}"
    if mean is not None and low is not None and high is not None:
        text += f" [{low:.2f}, {high:.2f}]"
    return text


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
    footnotes = Footnotes()
    lines = [
        f"# {spec.title}",
        "",
        f"backbone {backbone} · mean over {scope}; mIoU (%); cells: ours ± std [95 % CI] / paper / Δ "
        "(datasets, n = seeds per dataset, runs, test images)",
        "",
        *([spec.declared.summary(), ""] if spec.declared else []),
        "| method | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label, entries in _by_label(table).items():
        cells_text = [_cell_text(e, footnotes, bound=e["row"] in spec.bounds) for e in (entries[h] for h in headers)]
        lines.append(f"| {label} | " + " | ".join(cells_text) + " |")
    lines += ["", f"ours: mean {METHOD}.", *footnotes.markdown()]
    if spec.columns != "dataset":
        lines += _per_dataset(spec, cells)
    if notes:
        lines += ["", *[f"* {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def _cell_text(entry: dict, footnotes: Footnotes, bound: bool = False) -> str:
    """One cell of the report: ``ours ± std [CI] / paper¹ / Δ (datasets, n, runs, images)``; a bound row
    (the paper's number alone) shows its published value only."""
    paper = f"{fmt(entry['paper'])}{footnotes.marker(entry['paper_source'])}"
    if bound:
        return f"– / {paper} / –"
    ours = with_spread(entry["ours"], entry["std"], entry["ci_low"], entry["ci_high"])
    return (
        f"{ours} / {paper} / {fmt(entry['diff'], True)} "
        f"({entry['datasets']}, n={entry['seeds'] or 0}, {entry['runs']}, {entry['test_images']})"
    )


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


LATEX_TEXT = {"±": r"$\pm$", "−": "-", "“": "``", "”": "''", "α": r"$\alpha$", "–": "--", "%": r"\%"}


def _latex(text: str) -> str:
    for plain, latex in LATEX_TEXT.items():
        text = text.replace(plain, latex)
    return text


def report_latex(spec: ExperimentSpec, table: list[dict]) -> str:
    """The table as LaTeX: ours ± std, its 95 % interval and the paper's value (with a footnote naming its
    source) per column; the interval's method and the sources below."""
    headers = _headers(spec)
    names = [_heading(spec, c, s) for c, s in headers]
    footnotes = Footnotes()
    lines = [
        r"\begin{tabular}{l" + "rrr" * len(headers) + "}",
        r"\toprule",
        "Method & " + " & ".join(rf"\multicolumn{{3}}{{c}}{{{n}}}" for n in names) + r" \\",
        " & " + " & ".join("ours ± std & 95% CI & paper" for _ in headers) + r" \\",
        r"\midrule",
    ]
    for label, entries in _by_label(table).items():
        values = " & ".join(_latex_cell(entries[h], footnotes) for h in headers)
        lines.append(f"{label} & {values} " + r"\\")
    sources = "; ".join(rf"\textsuperscript{{{i}}}{text}" for i, text in enumerate(footnotes.texts, 1))
    lines += [r"\bottomrule", r"\end{tabular}", rf"\par\smallskip{{\footnotesize {METHOD}. {sources}}}"]
    return _latex("\n".join(lines)) + "\n"


def _latex_cell(entry: dict, footnotes: Footnotes) -> str:
    number = footnotes.number(entry["paper_source"])
    paper = fmt(entry["paper"]) + (rf"\textsuperscript{{{number}}}" if number else "")
    ours = fmt(entry["ours"]) + (
        f" ± {entry['std']:.2f}" if entry["ours"] is not None and entry["std"] is not None else ""
    )
    interval = (
        f"[{entry['ci_low']:.1f}, {entry['ci_high']:.1f}]"
        if entry["ours"] is not None and entry["ci_low"] is not None
        else "–"
    )
    return f"{ours} & {interval} & {paper}"


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


def subset_of(metric: str) -> str:
    """The class subset (A / S / U) a record metric scores."""
    return next((key for key, subset in SUBSETS.items() if subset.metric == metric), "A")


def _spread_text(spread: Spread | None) -> str:
    return (
        "–"
        if spread is None
        else f"{with_spread(spread.mean, spread.std, spread.low, spread.high)} (n={spread.seeds_text})"
    )


def leaderboard_table(
    records: list[RunRecord],
    metric: str = "mIoU",
    paper: PaperLookup | None = None,
    footnotes: Footnotes | None = None,
) -> str:
    """Rows = methods, columns = shots, cells = mean ± std [95 % CI] over seeds (n seeds), with a paper
    column after each B where ``paper`` has a value of some row there (its source a footnote in
    ``footnotes``); closed-vocabulary rows are marked †."""
    closed = closed_vocabulary_rows(records)
    table = seed_values(records, metric)
    images = test_image_counts(records)
    shots = sorted({b for row in table.values() for b in row})
    published = {
        (row, b): value for row in table for b in shots if paper and (value := paper(row, b, subset_of(metric)))
    }
    notes = footnotes if footnotes is not None else Footnotes()
    paper_shots = {b for _, b in published}
    columns = [(b, kind) for b in shots for kind in ("ours", "paper") if kind == "ours" or b in paper_shots]
    names = [f"B = {b}" if kind == "ours" else f"paper B = {b}" for b, kind in columns]
    lines = [f"| method | {' | '.join(names)} | test images |", "|---|" + "---|" * (len(columns) + 1)]
    for row in ordered_rows(table):
        cells = []
        for b, kind in columns:
            if kind == "ours":
                cells.append(_spread_text(seed_spread(table[row].get(b) or [])))
            else:
                value = published.get((row, b))
                cells.append("–" if value is None else f"{value.value:.2f}{notes.marker(source_text(value))}")
        lines.append(f"| {row}{' †' if row in closed else ''} | {' | '.join(cells)} | {images.get(row, '?')} |")
    return "\n".join(lines)


def write_leaderboard_csv(
    records: list[RunRecord], path: Path, metrics: tuple[str, ...] = ("mIoU",), paper: PaperLookup | None = None
) -> None:
    """One line per method, metric and B: mean, std, 95 % interval (empty where one seed gives none), the
    number of seeds and of test images (a smoke run is told from a full one in the CSV too), and the
    paper's value with its source where ``paper`` has the cell."""
    rows, images = [], test_image_counts(records)
    for metric in metrics:
        table = seed_values(records, metric)
        for row in ordered_rows(table):
            for b in sorted(table[row]):
                spread = seed_spread(table[row][b])
                published = paper(row, b, subset_of(metric)) if paper else None
                numbers = [spread.mean, spread.std, spread.low, spread.high] if spread else [None] * 4
                rows.append(
                    [row, metric, b, *(f"{v:.4f}" if v is not None else "" for v in numbers), len(table[row][b])]
                    + [
                        images.get(row, ""),
                        published.value if published else "",
                        source_text(published) if published else "",
                    ]
                )
    header = ["method", "metric", "shots", "mean", "std", "ci_low", "ci_high", "num_seeds", "test_images"]
    write_csv(path, [*header, "paper", "paper_source"], rows)
