"""Leaderboard tables and curves derived from run records (never edited by hand)."""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any


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
    shots = sorted({b for row in table.values() for b in row})
    lines = [f"| method | {' | '.join(f'B = {b}' for b in shots)} |",
             "|---|" + "---|" * len(shots)]
    for row in _ordered_rows(table):
        cells = []
        for b in shots:
            values = table[row].get(b)
            cells.append("–" if not values else "{:.2f} ± {:.2f} (n={})".format(*mean_std(values), len(values)))
        lines.append(f"| {row}{' †' if row in closed else ''} | {' | '.join(cells)} |")
    return "\n".join(lines)


def write_csv(records: list[dict[str, Any]], path: Path, metrics: tuple[str, ...] = ("mIoU",)) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["method", "metric", "shots", "mean", "std", "num_seeds"])
        for metric in metrics:
            table = aggregate(records, metric)
            for row in _ordered_rows(table):
                for b in sorted(table[row]):
                    mean, std = mean_std(table[row][b])
                    writer.writerow([row, metric, b, f"{mean:.4f}", f"{std:.4f}", len(table[row][b])])


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
    fig.savefig(path)
    plt.close(fig)


# Partial visual support (paper Table 3): mIoU over all (A), supported (S), unsupported (U) classes.
SUBSET_METRICS = {"mIoU": "all classes (A)", "mIoU_supported": "classes with visual support (S)",
                  "mIoU_unsupported": "classes without visual support (U)"}


def write_leaderboard(records: list[dict[str, Any]], out_dir: Path, title: str) -> str:
    """Write leaderboard.md / .csv / .png into ``out_dir``; return the markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = tuple(m for m in SUBSET_METRICS if any(m in r["metrics"] for r in records)) or ("mIoU",)
    sections = [f"# {title}", "mIoU (%), mean ± std over support seeds"]
    for metric in metrics:
        heading = f"## mIoU over {SUBSET_METRICS[metric]}\n\n" if len(metrics) > 1 else ""
        sections.append(heading + markdown_table(records, metric))
    closed = closed_vocabulary_rows(records)
    if closed:
        worst = ", ".join(f"{row} {n}" for row, n in sorted(closed.items()) if n)
        sections.append("† closed vocabulary (offline baseline): never predicts a class without visual support ("
                        + (f"most classes unpredictable in one run: {worst})" if worst
                           else "every class had visual support in these runs)"))
    text = "\n\n".join(sections) + "\n"
    (out_dir / "leaderboard.md").write_text(text)
    write_csv(records, out_dir / "leaderboard.csv", metrics)
    plot_curves(records, out_dir / "leaderboard.png", title)
    return text
