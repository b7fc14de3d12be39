"""Leaderboard tables and curves derived from run records (never edited by hand).

A sweep's leaderboard shows exactly the records of the runs it declares: its rows at its B values and
seeds, each with the fingerprint the sweep gives that run (:func:`sweep_records`). Every other record of
its folder (a smoke run, an ad-hoc option, another B or seed, a row this sweep does not run) is left out
and counted by reason under "Left out", like a report's; ``python -m rns_bench.report`` shows a whole
experiment.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rns_bench.core.atomic_io import atomic_target, write_text_atomic
from rns_bench.report.declared import value_at
from rns_bench.report.selection import LeftOut, unusable
from rns_bench.runs.fingerprint import identity_differences

SHOWN_DIFFERENCES = 3
LEFT_OUT_HEADING = "Left out: records of this folder that are not this sweep's runs"


@dataclass(frozen=True)
class DeclaredRun:
    """A run the sweep declares: its cell and the fingerprint (and identity) the sweep gives it."""

    row: str
    shots: int
    seed: int
    fingerprint: str
    identity: Mapping[str, Any]


def sweep_records(
    records: list[dict[str, Any]], declared: list[DeclaredRun], dataset: str
) -> tuple[list[dict[str, Any]], LeftOut]:
    """The records of ``declared`` (one per run at most), and the rest counted by reason."""
    runs = {(run.row, run.shots, run.seed): run for run in declared}
    rows = sorted({run.row for run in declared})
    shots, seeds = sorted({run.shots for run in declared}), sorted({run.seed for run in declared})
    kept: dict[tuple[str, int, int], dict[str, Any]] = {}
    left_out = LeftOut()
    for record in records:
        problem = unusable(record)
        if problem:
            left_out.add(f"unusable record: {problem}", str(record.get("row")), dataset)
            continue
        row, b, seed = record["row"], int(record["shots"]), int(record["seed"])
        run = runs.get((row, b, seed))
        if run is not None and record.get("fingerprint") == run.fingerprint:
            kept[row, b, seed] = record
            continue
        if row not in rows:
            why = f"row {row} is not run by this sweep (methods: {', '.join(rows)})"
        elif b not in shots:
            why = f"B = {b} is not declared by this sweep (shots: {', '.join(map(str, shots))})"
        elif seed not in seeds:
            why = f"seed {seed} is not declared by this sweep (seeds: {', '.join(map(str, seeds))})"
        else:
            why = _other_config(record, run) if run is not None else f"{row} is not run at B = {b}, seed {seed}"
        left_out.add(why, row, dataset)
    return list(kept.values()), left_out


def _other_config(record: Mapping[str, Any], run: DeclaredRun) -> str:
    """Why a record of a declared cell is not the sweep's run (one line, shared by records alike)."""
    identity = record.get("identity")
    if not isinstance(identity, Mapping):
        return "no identity: a record from before records knew their config"
    count, declared = record.get("num_test_images"), value_at(run.identity, "data.num_test_images")
    limit = (record.get("config") or {}).get("test_limit")
    if count != declared and limit is not None:
        return f"smoke run: test_limit={limit} ({count} test images; this sweep: {declared})"
    differences = [p for p in identity_differences([identity, run.identity]) if not p.startswith("run.")]
    if not differences:
        return "another config (its fingerprint differs, in settings older records do not list)"
    more = f" and {len(differences) - SHOWN_DIFFERENCES} more" if len(differences) > SHOWN_DIFFERENCES else ""
    return f"another config: differs in {', '.join(differences[:SHOWN_DIFFERENCES])}{more}"


def aggregate(records: list[dict[str, Any]], metric: str = "mIoU") -> dict[str, dict[int, list[float]]]:
    """row → shots → metric values over seeds (records missing the metric are skipped)."""
    table: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        value = record["metrics"].get(metric)
        if value is not None:
            table[record["row"]][record["shots"]].append(float(value))
    return table


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _ordered_rows(table: dict[str, dict[int, list[float]]]) -> list[str]:
    # Best first by the mean over shot counts, so the table reads as a ranking.
    return sorted(table, key=lambda row: -statistics.fmean(statistics.fmean(v) for v in table[row].values()))


def closed_vocabulary_rows(records: list[dict[str, Any]]) -> dict[str, int]:
    """Rows of closed-vocabulary methods (their records list ``unpredictable_classes``) → the most
    classes any of their runs could not predict."""
    worst: dict[str, int] = {}
    for record in records:
        if "unpredictable_classes" in record["metrics"]:
            count = len(record["metrics"]["unpredictable_classes"])
            worst[record["row"]] = max(worst.get(record["row"], 0), count)
    return worst


def markdown_table(records: list[dict[str, Any]], metric: str = "mIoU") -> str:
    """Rows = methods, columns = shots, cells = mean ± std over seeds (n seeds); closed-vocabulary
    rows are marked †."""
    closed = closed_vocabulary_rows(records)
    table = aggregate(records, metric)
    images = test_image_counts(records)
    shots = sorted({b for row in table.values() for b in row})
    lines = [f"| method | {' | '.join(f'B = {b}' for b in shots)} | test images |", "|---|" + "---|" * (len(shots) + 1)]
    for row in _ordered_rows(table):
        cells = []
        for b in shots:
            values = table[row].get(b)
            cells.append("–" if not values else "{:.2f} ± {:.2f} (n={})".format(*mean_std(values), len(values)))
        lines.append(f"| {row}{' †' if row in closed else ''} | {' | '.join(cells)} | {images.get(row, '?')} |")
    return "\n".join(lines)


def write_csv(records: list[dict[str, Any]], path: Path, metrics: tuple[str, ...] = ("mIoU",)) -> None:
    """Atomically (a planted symlink is replaced, never followed; a killed writer leaves the old file)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["method", "metric", "shots", "mean", "std", "num_seeds"])
    for metric in metrics:
        table = aggregate(records, metric)
        for row in _ordered_rows(table):
            for b in sorted(table[row]):
                mean, std = mean_std(table[row][b])
                writer.writerow([row, metric, b, f"{mean:.4f}", f"{std:.4f}", len(table[row][b])])
    write_text_atomic(path, out.getvalue())


def plot_curves(records: list[dict[str, Any]], path: Path, title: str, metric: str = "mIoU") -> None:
    """mIoU against shots, one line per method with a ±std band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = aggregate(records, metric)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for row in _ordered_rows(table):
        shots = sorted(table[row])
        stats = [mean_std(table[row][b]) for b in shots]
        means = [m for m, _ in stats]
        ax.plot(shots, means, marker="o", label=row)
        ax.fill_between(shots, [m - s for m, s in stats], [m + s for m, s in stats], alpha=0.15)
    ax.set_xlabel("support images per class (B)")
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


# Partial visual support (paper Table 3): mIoU over all (A), supported (S), unsupported (U) classes.
SUBSET_METRICS = {
    "mIoU": "all classes (A)",
    "mIoU_supported": "classes with visual support (S)",
    "mIoU_unsupported": "classes without visual support (U)",
}


def test_image_counts(records: list[dict[str, Any]]) -> dict[str, str]:
    """line label → the number(s) of test images its runs were scored on."""
    counts: dict[str, set] = defaultdict(set)
    for record in records:
        if record.get("num_test_images") is not None:
            counts[record["row"]].add(int(record["num_test_images"]))
    return {row: "/".join(str(n) for n in sorted(values)) for row, values in counts.items()}


def write_leaderboard(records: list[dict[str, Any]], out_dir: Path, title: str, left_out: LeftOut | None = None) -> str:
    """Write leaderboard.md / .csv / .png of ``records`` (one config per row: :func:`sweep_records`) into
    ``out_dir``, ending with what was ``left_out``; return the markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = tuple(m for m in SUBSET_METRICS if any(m in r["metrics"] for r in records)) or ("mIoU",)
    sections = [f"# {title}", "mIoU (%), mean ± std over support seeds"]
    for metric in metrics:
        heading = f"## mIoU over {SUBSET_METRICS[metric]}\n\n" if len(metrics) > 1 else ""
        sections.append(heading + markdown_table(records, metric))
    closed = closed_vocabulary_rows(records)
    if closed:
        worst = ", ".join(f"{row} {n}" for row, n in sorted(closed.items()) if n)
        sections.append(
            "† closed vocabulary (offline baseline): never predicts a class without visual support ("
            + (
                f"most classes unpredictable in one run: {worst})"
                if worst
                else "every class had visual support in these runs)"
            )
        )
    if left_out is not None and left_out.total:
        sections.append("\n".join(left_out.markdown(LEFT_OUT_HEADING)).strip())
    text = "\n\n".join(sections) + "\n"
    write_text_atomic(out_dir / "leaderboard.md", text)
    write_csv(records, out_dir / "leaderboard.csv", metrics)
    plot_curves(records, out_dir / "leaderboard.png", title)
    return text
