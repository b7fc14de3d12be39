"""The reports' curves, as matplotlib Figures (``*_figure``: built, not saved, so that they can be
inspected) and PNGs (``plot_*``; :func:`save_figure` writes atomically). An experiment: mIoU against its
column, ours with a ± std band over seeds, the paper's numbers dashed with hollow markers; a panel per
class subset (Table 3's S / U / A / H); per-dataset columns (Table 4), or a single column, as points with
± std bars. Fig. 13: mIoU against inference seconds. Fig. 3's layout: a panel per (backbone,
granularity). A sweep's leaderboard: mIoU against B with a ± std band, or a point per row where the
sweep has one B. How they look (sizes, fonts, colours and markers, legends): :mod:`rns_bench.report.style`;
per-class and qualitative figures: :mod:`rns_bench.report.class_figures`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rns_bench.core.atomic_io import atomic_target
from rns_bench.report.cells import Cell, CellKey, runtime_points, seed_values
from rns_bench.report.intervals import seed_spread
from rns_bench.report.spec import SUBSETS, ExperimentSpec, column_name
from rns_bench.report.style import (
    COLOURS,
    COLUMN_WIDTH,
    DPI,
    LINESTYLES,
    PAGE_WIDTH,
    PANEL_HEIGHT,
    TITLE_CHAR_WIDTH,
    TITLE_SIZE,
    clip,
    grid_of,
    legend_below,
    legend_height,
    line_handle,
    miou_axis,
    new_figure,
    pyplot,
    row_style,
    suptitle,
    wrap,
)
from rns_bench.report.tables import ordered_rows
from rns_bench.runs.records import RunRecord

X_LABELS = {
    "shots": "support images per class (B)",
    "dataset": "dataset",
    "visual_drop_fraction": "fraction of classes without images",
    "text_drop_fraction": "fraction of classes without names",
}
Panel = tuple[str, ExperimentSpec, list[dict], str]  # (title, spec, report table, class subset)
LEADERBOARD_WIDTH = 4.6  # inches: room for a legend of 11 rows in three columns


def save_figure(fig: Any, path: Path) -> None:
    """``fig`` as a PNG at ``path``, atomically (a killed report leaves the old image or none, never a
    0-byte one, and a symlink planted at ``path`` is replaced, never followed); then closed."""
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    pyplot().close(fig)


def _height(width: float, axes: float, labels: Sequence[str]) -> float:
    """A figure's height: its axes, the legend of ``labels`` below, a two-line title above."""
    return axes + legend_height(width, labels) + 0.45


def _rows(spec: ExperimentSpec) -> dict[str, str]:
    """Every row drawn: the experiment's, then its bounds (the paper's numbers alone)."""
    return {**spec.rows, **spec.bounds}


def _sources(table: list[dict]) -> str:
    """The tables the published values come from (``RNS paper Table 5``), for the legend."""
    texts = {r["paper_source"].partition(":")[0] for r in table if r.get("paper_source")}
    return ", ".join(sorted(texts))


def panels_figure(title: str, panels: Sequence[Panel]) -> Any:
    """A panel per (title, spec, report table, subset), at most 3 side by side, one legend below: a
    colour and marker per row (the same in every panel), solid = ours, dashed = the paper's."""
    rows, columns = grid_of(len(panels))
    width = COLUMN_WIDTH if len(panels) == 1 else PAGE_WIDTH
    labels: dict[str, int] = {}  # row label → its style, across panels
    for _, spec, _, _ in panels:
        for label in _rows(spec).values():
            labels.setdefault(label, len(labels))
    sources = ", ".join(sorted({s for _, _, table, _ in panels if (s := _sources(table))}))
    handles = [line_handle("none", **_marker(labels, label)) for label in labels] + [line_handle("-", "o")]
    names = [*labels, "ours: mean ± std over seeds"]
    if sources:
        handles.append(line_handle("--", "o", filled=False))
        names.append(f"published ({sources})")
    fig, axes = new_figure(width, _height(width, PANEL_HEIGHT * rows, names), rows, columns)
    for ax, (panel_title, spec, table, subset) in zip(axes.flat, panels, strict=False):
        draw_panel(ax, spec, table, subset, labels)
        ax.set_title(wrap(panel_title, int(width / columns / TITLE_CHAR_WIDTH)), fontsize=TITLE_SIZE)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_axis_off()
    legend_below(fig, handles, names)
    suptitle(fig, title)
    return fig


def _marker(labels: dict[str, int], label: str) -> dict[str, Any]:
    style = row_style(labels[label])
    return {"marker": style["marker"], "colour": style["color"]}


def experiment_figure(spec: ExperimentSpec, table: list[dict], cells: dict[CellKey, Cell] | None = None) -> Any:
    """The report's figure: a panel per class subset (Fig. 13: :func:`runtime_figure`)."""
    if spec.plot == "runtime":
        return runtime_figure(spec, table, cells or {})
    panels = [
        (SUBSETS[subset].description if len(spec.subsets) > 1 else "", spec, table, subset) for subset in spec.subsets
    ]
    return panels_figure(spec.title, panels)


def _series(table: list[dict], row: str, subset: str, key: str) -> list[dict]:
    return [r for r in table if r["row"] == row and r["subset"] == subset and r[key] is not None]


def draw_panel(ax: Any, spec: ExperimentSpec, table: list[dict], subset: str, labels: dict[str, int]) -> None:
    """One panel: each row's mIoU in ``subset`` against the column, ours with its ± std (clipped to
    [0, 100]), the paper's dashed with hollow markers."""
    columns = spec.column_values()
    categorical = spec.columns == "dataset" or len(columns) == 1
    shown: list[float] = []
    rows = _rows(spec)
    for index, (row, label) in enumerate(rows.items()):
        style = row_style(labels[label])
        dodge = (index - (len(rows) - 1) / 2) * 0.6 / len(rows) if categorical else 0.0
        x_of = {c: (i + dodge if categorical else c) for i, c in enumerate(columns)}
        mine, paper = _series(table, row, subset, "ours"), _series(table, row, subset, "paper")
        if mine:
            shown += _draw_ours(ax, [x_of[r["column"]] for r in mine], mine, style, categorical, label)
        if paper:
            xs, ys = [x_of[r["column"]] for r in paper], [r["paper"] for r in paper]
            ax.plot(
                xs,
                ys,
                linestyle="none" if categorical else "--",
                markerfacecolor="none",
                label=f"{label} (paper)",
                **style,
            )
            shown += ys
    _column_axis(ax, spec, columns, categorical)
    ax.set_ylabel("mIoU (%)")
    miou_axis(ax, shown)


def _draw_ours(
    ax: Any, xs: list[float], entries: list[dict], style: dict, categorical: bool, label: str
) -> list[float]:
    """Our means with ± std (bars for categories, a band for a curve), clipped to [0, 100]; the values shown."""
    means = [r["ours"] for r in entries]
    lows = clip(r["ours"] - (r["std"] or 0.0) for r in entries)
    highs = clip(r["ours"] + (r["std"] or 0.0) for r in entries)
    if categorical:
        errors = [
            [m - lo for m, lo in zip(means, lows, strict=True)],
            [hi - m for m, hi in zip(means, highs, strict=True)],
        ]
        ax.errorbar(xs, means, yerr=errors, fmt="none", ecolor=style["color"], elinewidth=1, capsize=2)
        ax.plot(xs, means, linestyle="none", label=f"{label} (ours)", **style)
    else:
        ax.plot(xs, means, linestyle="-", label=f"{label} (ours)", **style)
        ax.fill_between(xs, lows, highs, color=style["color"], alpha=0.15, linewidth=0)
    return means + lows + highs


def _column_axis(ax: Any, spec: ExperimentSpec, columns: list[Any], categorical: bool) -> None:
    if categorical:
        ax.set_xticks(
            range(len(columns)), [column_name(spec, c) for c in columns], rotation=30 if len(columns) > 3 else 0
        )
        ax.set_xlim(-0.6, len(columns) - 0.4)
    elif spec.columns == "shots" and max(columns) / max(min(columns), 1) >= 10:  # 1 … 20: equal steps per ×2
        ax.set_xscale("log")
        ax.set_xticks(columns, [str(c) for c in columns])
        ax.minorticks_off()
    else:
        ax.set_xticks(columns, [f"{c:g}" for c in columns])
    ax.set_xlabel(X_LABELS[spec.columns])


def runtime_figure(spec: ExperimentSpec, table: list[dict], cells: dict[CellKey, Cell]) -> Any:
    """Fig. 13: each row's mIoU against its inference seconds per image (log scale), a marker per row."""
    points = runtime_points(spec, table, cells)
    fig, axes = new_figure(COLUMN_WIDTH, _height(COLUMN_WIDTH, PANEL_HEIGHT, [p.label for p in points]))
    ax = axes[0][0]
    for index, point in enumerate(points):
        ax.plot([point.total], [point.miou], linestyle="none", label=point.label, **row_style(index))
    ax.set_xscale("log")
    ax.margins(x=0.12)
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")  # 0.05, not 5 × 10⁻²
    ax.xaxis.set_major_formatter(plain)
    seconds = [p.total for p in points]
    if seconds and max(seconds) < 10 * min(seconds):  # within a decade: label the minor ticks too
        ax.xaxis.set_minor_formatter(plain)
    ax.set_xlabel("inference s / image (log)")
    ax.set_ylabel("mIoU (%)")
    miou_axis(ax, [p.miou for p in points])
    handles, labels = ax.get_legend_handles_labels()
    legend_below(fig, handles, labels)
    suptitle(fig, spec.title)
    return fig


def leaderboard_figure(records: list[RunRecord], title: str, metric: str = "mIoU") -> Any:
    """A sweep's leaderboard: ``metric`` against B, a line per row (colour, marker and, past 8 rows, line
    style) with a ± std band over seeds clipped to [0, 100]; one B: a point per row (:func:`_points_figure`)."""
    table = seed_values(records, metric)
    order = ordered_rows(table)
    shots = sorted({b for row in table.values() for b in row})
    if len(shots) == 1:
        return _points_figure(table, order, shots[0], title, metric)
    if not shots:  # every record of the folder was left out
        fig, axes = new_figure(COLUMN_WIDTH, PANEL_HEIGHT)
        axes[0][0].set_axis_off()
        axes[0][0].text(0.5, 0.5, "no records of this sweep's runs", ha="center", va="center")
        suptitle(fig, title)
        return fig
    fig, axes = new_figure(LEADERBOARD_WIDTH, _height(LEADERBOARD_WIDTH, PANEL_HEIGHT, order))
    ax = axes[0][0]
    shown: list[float] = []
    for index, row in enumerate(order):
        spreads = [(b, s) for b in sorted(table[row]) if (s := seed_spread(table[row][b]))]
        xs, means = [b for b, _ in spreads], [s.mean for _, s in spreads]
        style = row_style(index)
        ax.plot(xs, means, linestyle=LINESTYLES[index // len(COLOURS) % len(LINESTYLES)], label=row, **style)
        lows = clip(s.mean - s.std if s.std is not None else math.nan for _, s in spreads)
        highs = clip(s.mean + s.std if s.std is not None else math.nan for _, s in spreads)
        ax.fill_between(xs, lows, highs, color=style["color"], alpha=0.12, linewidth=0)
        shown += means + [v for v in lows + highs if not math.isnan(v)]
    if max(shots) / max(min(shots), 1) >= 10:
        ax.set_xscale("log")
        ax.minorticks_off()
    ax.set_xticks(shots, [str(b) for b in shots])
    ax.set_xlabel("support images per class (B)")
    ax.set_ylabel(f"{metric} (%)")
    miou_axis(ax, shown)
    handles, labels = ax.get_legend_handles_labels()
    legend_below(fig, handles, labels)
    suptitle(fig, f"{title} · mean ± std over seeds")
    return fig


def _points_figure(
    table: dict[str, dict[int, list[float]]], order: list[str], shots: int, title: str, metric: str
) -> Any:
    """One B: a row per method, best on top, its mean and ± std over seeds (clipped to [0, 100])."""
    fig, axes = new_figure(COLUMN_WIDTH, 0.25 * len(order) + 1.2)
    ax = axes[0][0]
    shown: list[float] = []
    for index, row in enumerate(order):
        spread = seed_spread(table[row][shots])
        if spread is None:
            continue
        y = len(order) - 1 - index
        low, high = clip([spread.mean - (spread.std or 0.0), spread.mean + (spread.std or 0.0)])
        style = row_style(index)
        ax.errorbar(
            [spread.mean], [y], xerr=[[spread.mean - low], [high - spread.mean]], fmt="none", ecolor=style["color"]
        )
        ax.plot([spread.mean], [y], linestyle="none", label=row, **style)
        shown += [spread.mean, low, high]
    ax.set_yticks(range(len(order)), list(reversed(order)))
    ax.set_ylim(-0.7, len(order) - 0.3)
    ax.set_xlabel(f"{metric} (%) at B = {shots}\nmean ± std over seeds")
    miou_axis(ax, shown, axis="x")
    suptitle(fig, title)
    return fig


def plot_lines(path: Path, spec: ExperimentSpec, table: list[dict]) -> None:
    save_figure(experiment_figure(spec, table), path)


def plot_runtime(path: Path, spec: ExperimentSpec, table: list[dict], cells: dict[CellKey, Cell]) -> None:
    save_figure(runtime_figure(spec, table, cells), path)


def plot_panels(path: Path, title: str, panels: Sequence[Panel]) -> None:
    save_figure(panels_figure(title, panels), path)


def plot_curves(records: list[RunRecord], path: Path, title: str, metric: str = "mIoU") -> None:
    save_figure(leaderboard_figure(records, title, metric), path)
