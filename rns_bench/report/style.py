"""How the reports' figures look, so that they can go into a paper as they are: drawn at the width a
paper prints them (a column, or the text width of a two-column page) with no text under 8 pt, every
row told apart by colour and marker both (a colour-blind-safe palette of 8 colours with 7 markers gives
56 distinct pairs), mIoU axes and bands within [0, 100], legends below the axes, never over the data,
and a legend of the colours wherever classes are coloured."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

COLUMN_WIDTH = 3.4  # inches: one column of a two-column paper
PAGE_WIDTH = 7.0  # inches: its text width; no figure is wider, so none is shrunk when printed
PANEL_HEIGHT = 2.3  # inches per row of panels
FONT_SIZE = 8.0  # the smallest text of any figure, at the size it prints
TITLE_SIZE = 9.0
DPI = 300  # saved PNGs: sharp at print size
# Okabe & Ito's colour-blind-safe palette (its yellow, too pale on white, replaced by grey).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#7F7F7F")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # 7, coprime with the 8 colours
LINESTYLES = ("-", "--", "-.", ":")
MIOU_RANGE = (0.0, 100.0)
LABEL_WIDTH = 28  # characters per line of a panel title or a legend entry before it wraps
CHAR_WIDTH = 0.064  # inches per character at 8 pt (DejaVu Sans averages about 0.58 em)
TITLE_CHAR_WIDTH = 0.085  # inches per character at 9 pt
LEGEND_LABEL = 16  # characters per line of a legend entry at the least (longer ones wrap)
ENTRY_PAD = 0.4  # inches a legend entry takes besides its text (handle, padding, column spacing)
RC = {
    "font.size": FONT_SIZE,
    "axes.titlesize": TITLE_SIZE,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": FONT_SIZE,
    "ytick.labelsize": FONT_SIZE,
    "legend.fontsize": FONT_SIZE,
    "legend.title_fontsize": FONT_SIZE,
    "figure.titlesize": TITLE_SIZE,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "savefig.dpi": DPI,
}


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (imported when a figure is drawn, not before)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def new_figure(width: float, height: float, rows: int = 1, columns: int = 1, **options: Any) -> tuple[Any, Any]:
    """A figure of ``width`` × ``height`` inches (at most the page width) with a grid of axes, laid out by
    matplotlib's constrained layout (room for an outside legend), in the reports' style."""
    plt = pyplot()
    with plt.rc_context(RC):
        fig, axes = plt.subplots(
            rows, columns, figsize=(min(width, PAGE_WIDTH), height), squeeze=False, layout="constrained", **options
        )
    for ax in axes.flat:
        ax.tick_params(labelsize=FONT_SIZE)
        ax.grid(alpha=0.3)
    return fig, axes


def grid_of(panels: int, most: int = 3) -> tuple[int, int]:
    """(rows, columns) of ``panels`` panels, at most ``most`` side by side, rows as full as they can be
    (4 panels: 2 × 2)."""
    rows = math.ceil(panels / most)
    return rows, math.ceil(panels / rows)


def row_style(index: int) -> dict[str, str]:
    """The colour and marker of the ``index``-th row; no two of the first 56 rows share both."""
    return {"color": COLOURS[index % len(COLOURS)], "marker": MARKERS[index % len(MARKERS)]}


def wrap(label: str, width: int = LABEL_WIDTH) -> str:
    """``label`` in lines of at most ``width`` characters (a word longer than that stays whole)."""
    return "\n".join(textwrap.wrap(label, width, break_long_words=False)) or label


def legend_layout(width: float, labels: Sequence[str]) -> tuple[int, int]:
    """(columns, characters per line) of a legend of ``labels`` ``width`` inches wide: as many columns as
    labels of up to :data:`LEGEND_LABEL` characters allow, longer labels wrapped."""
    target = min(max((len(label) for label in labels), default=1), LEGEND_LABEL)
    columns = max(1, min(len(labels), int(width / (ENTRY_PAD + CHAR_WIDTH * target))))
    return columns, max(LEGEND_LABEL, int((width / columns - ENTRY_PAD) / CHAR_WIDTH))


def legend_height(width: float, labels: Sequence[str]) -> float:
    """Inches a :func:`legend_below` of ``labels`` takes under the axes of a ``width``-inch figure."""
    if not labels:
        return 0.0
    columns, chars = legend_layout(width - 0.2, labels)
    lines = max(wrap(label, chars).count("\n") + 1 for label in labels)
    return 0.16 * lines * math.ceil(len(labels) / columns) + 0.15


def legend_below(fig: Any, handles: Sequence[Any], labels: Sequence[str]) -> Any:
    """One legend for the whole figure, below its axes (never over the data), in as many columns as the
    figure's width holds with its labels wrapped to them; nothing when there is nothing to name."""
    if not handles:
        return None
    columns, chars = legend_layout(fig.get_figwidth() - 0.2, labels)
    return fig.legend(
        handles,
        [wrap(label, chars) for label in labels],
        loc="outside lower center",
        ncols=columns,
        fontsize=FONT_SIZE,
        frameon=False,
        handlelength=1.5,
        columnspacing=1.0,
    )


def clip(values: Iterable[float], low: float = MIOU_RANGE[0], high: float = MIOU_RANGE[1]) -> list[float]:
    return [min(max(v, low), high) for v in values]


def miou_axis(ax: Any, values: Iterable[float], axis: str = "y", margin: float = 5.0) -> None:
    """Limit an mIoU axis to the data (with a margin), never outside [0, 100]."""
    shown = [v for v in values if v is not None and math.isfinite(v)]
    low, high = (min(shown), max(shown)) if shown else MIOU_RANGE
    low = max(MIOU_RANGE[0], math.floor((low - margin) / 5) * 5)
    high = min(MIOU_RANGE[1], math.ceil((high + margin) / 5) * 5)
    (ax.set_ylim if axis == "y" else ax.set_xlim)(low, max(high, low + 10))


def colour_patches(named: Sequence[tuple[str, Sequence[int]]]) -> list[Any]:
    """Legend handles of (name, RGB 0–255) colours: a class legend."""
    from matplotlib.patches import Patch

    return [Patch(facecolor=tuple(c / 255 for c in rgb), edgecolor="black", linewidth=0.4) for _, rgb in named]


def line_handle(linestyle: str, marker: str = "", filled: bool = True, colour: str = "#555555") -> Any:
    """A legend handle of a line style (ours / the paper's) in a neutral colour."""
    from matplotlib.lines import Line2D

    return Line2D(
        [], [], color=colour, linestyle=linestyle, marker=marker or None, markerfacecolor=colour if filled else "none"
    )


def suptitle(fig: Any, text: str) -> None:
    """The figure's title, wrapped to its width."""
    fig.suptitle(wrap(text, int(fig.get_figwidth() / TITLE_CHAR_WIDTH)), fontsize=TITLE_SIZE)
