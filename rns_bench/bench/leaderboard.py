"""Leaderboard tables and curves derived from run records (never edited by hand).

Every record of a scope is read, whichever sweep wrote it. A row whose records come from several
configs (fingerprints) shows one line per config: the current sweep's under the row's name, the
others as ``row ⟨fingerprint⟩``, with a note saying what differs between them.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from rns_bench.core.atomic_io import atomic_target, write_text_atomic
from rns_bench.runs.fingerprint import identity_differences

SHORT_FINGERPRINT = 6

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
    lines = [f"| method | {' | '.join(f'B = {b}' for b in shots)} | test images |",
             "|---|" + "---|" * (len(shots) + 1)]
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
SUBSET_METRICS = {"mIoU": "all classes (A)", "mIoU_supported": "classes with visual support (S)",
                  "mIoU_unsupported": "classes without visual support (U)"}


def config_variants(records: list[dict[str, Any]], current: set[str] | None = None) -> dict[str, dict[str, str]]:
    """row → config fingerprint → the line label of that config: the row's name when it has one config (or
    for the one config ``current`` names), ``row ⟨fp⟩`` for the others."""
    by_row: dict[str, list[str]] = defaultdict(list)
    for record in records:
        fp = record.get("config_fingerprint") or ""
        if fp not in by_row[record["row"]]:
            by_row[record["row"]].append(fp)
    labels: dict[str, dict[str, str]] = {}
    for row, fps in by_row.items():
        mine = [fp for fp in fps if current and fp in current]
        plain = mine[0] if len(mine) == 1 else (fps[0] if len(fps) == 1 else None)
        labels[row] = {fp: row if fp == plain else f"{row} ⟨{fp[:SHORT_FINGERPRINT]}⟩" for fp in fps}
    return labels


def labelled(records: list[dict[str, Any]], current: set[str] | None = None) -> list[dict[str, Any]]:
    """The records with ``row`` replaced by their config's line label (see :func:`config_variants`)."""
    labels = config_variants(records, current)
    return [{**r, "row": labels[r["row"]][r.get("config_fingerprint") or ""], "base_row": r["row"]} for r in records]


def variant_notes(records: list[dict[str, Any]], current: set[str] | None = None) -> list[str]:
    """One line per row with records of several configs: which lines, and what differs between them."""
    notes = []
    labels = config_variants(records, current)
    for row, variants in sorted(labels.items()):
        if len(variants) < 2:
            continue
        identities = {fp: next(r.get("identity") or {} for r in records
                               if r["row"] == row and (r.get("config_fingerprint") or "") == fp) for fp in variants}
        differ = identity_differences(list(identities.values()))
        sizes = {fp: sorted({r.get("num_test_images") for r in records if r["row"] == row
                             and (r.get("config_fingerprint") or "") == fp}, key=str) for fp in variants}
        lines = "; ".join(f"{label}{' (this sweep)' if current and fp in current else ''}: "
                          f"{'/'.join(map(str, sizes[fp]))} test images" for fp, label in variants.items())
        notes.append(f"⚠ {row}: records of {len(variants)} configs disagree in fingerprint ({lines}); they differ in "
                     f"{', '.join(differ) if differ else 'settings older records do not list'}")
    return notes


def test_image_counts(records: list[dict[str, Any]]) -> dict[str, str]:
    """line label → the number(s) of test images its runs were scored on."""
    counts: dict[str, set] = defaultdict(set)
    for record in records:
        if record.get("num_test_images") is not None:
            counts[record["row"]].add(int(record["num_test_images"]))
    return {row: "/".join(str(n) for n in sorted(values)) for row, values in counts.items()}


def write_leaderboard(records: list[dict[str, Any]], out_dir: Path, title: str,
                      current: set[str] | None = None) -> str:
    """Write leaderboard.md / .csv / .png into ``out_dir``; return the markdown.

    ``current``: config fingerprints of the sweep that asks (their lines carry the row's plain name).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    notes = variant_notes(records, current)
    records = labelled(records, current)
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
    sections.extend(notes)
    text = "\n\n".join(sections) + "\n"
    write_text_atomic(out_dir / "leaderboard.md", text)
    write_csv(records, out_dir / "leaderboard.csv", metrics)
    plot_curves(records, out_dir / "leaderboard.png", title)
    return text
