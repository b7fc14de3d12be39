"""What makes a report figure fit for a paper, checked on the matplotlib Figure itself: no wider than a
page, no text under 8 pt and none cut off, every legend named and outside every axes' data area, each
data line told apart by (colour, marker, line style, fill), mIoU axes and ± std bands within [0, 100]."""

from __future__ import annotations

from typing import Any

from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex

from rns_bench.report.style import FONT_SIZE, PAGE_WIDTH

TOLERANCE = 1.5  # pixels: anti-aliasing at an edge


def drawn_texts(fig: Any) -> list[Any]:
    """The non-empty texts the figure draws: its own, legends', and those of axes that are shown."""
    texts = [*fig.texts, *(t for legend in legends(fig) for t in legend.get_texts())]
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        if ax.axison:
            texts += [ax.xaxis.label, ax.yaxis.label, *_tick_labels(ax.xaxis), *_tick_labels(ax.yaxis)]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def _tick_labels(axis: Any) -> list[Any]:
    """The tick labels an axis draws: major and minor, at ticks within its view."""
    low, high = sorted(axis.get_view_interval())
    pairs = [
        *zip(axis.get_majorticklocs(), axis.get_majorticklabels(), strict=True),
        *zip(axis.get_minorticklocs(), axis.get_minorticklabels(), strict=True),
    ]
    return [label for loc, label in pairs if low - 1e-9 <= loc <= high + 1e-9]


def legends(fig: Any) -> list[Any]:
    return [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]


def data_lines(ax: Any) -> list[Any]:
    """The lines that carry data (labelled; matplotlib's helper lines are ``_``-labelled)."""
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def line_key(line: Any) -> tuple[str, str, str, bool]:
    return (
        to_hex(line.get_color()),
        str(line.get_marker()),
        line.get_linestyle(),
        line.get_markerfacecolor() != "none",
    )


def _overlap(a: Any, b: Any) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(0.0, width) * max(0.0, height)


def _inside(box: Any, outer: Any) -> bool:
    return (
        box.x0 >= outer.x0 - TOLERANCE
        and box.y0 >= outer.y0 - TOLERANCE
        and box.x1 <= outer.x1 + TOLERANCE
        and box.y1 <= outer.y1 + TOLERANCE
    )


def _is_miou(label: str) -> bool:
    return "IoU" in label


def check_fit(fig: Any) -> None:
    """Assert every property of the module docstring on ``fig`` as it is saved."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert fig.get_figwidth() <= PAGE_WIDTH + 1e-6, f"{fig.get_figwidth()} in: wider than a page"
    for text in drawn_texts(fig):
        assert text.get_fontsize() >= FONT_SIZE - 1e-6, (text.get_text(), text.get_fontsize())
        assert _inside(text.get_window_extent(renderer), fig.bbox), f"{text.get_text()!r} is cut off"
    for legend in legends(fig):
        labels = [t.get_text() for t in legend.get_texts()]
        assert labels and all(label.strip() for label in labels), f"an empty legend entry: {labels}"
        box = legend.get_window_extent(renderer)
        assert _inside(box, fig.bbox), "the legend is cut off"
        for ax in fig.axes:
            assert _overlap(box, ax.get_window_extent(renderer)) < 1.0, f"the legend covers {ax.get_title()!r}"
    for ax in fig.axes:
        keys = [line_key(line) for line in data_lines(ax)]
        assert len(keys) == len(set(keys)), f"two lines look alike in {ax.get_title()!r}: {keys}"
        for label, limits in ((ax.get_ylabel(), ax.get_ylim()), (ax.get_xlabel(), ax.get_xlim())):
            if _is_miou(label):
                assert 0.0 <= limits[0] < limits[1] <= 100.0, (label, limits)
        for band in (c for c in ax.collections if isinstance(c, PolyCollection)):
            for path in band.get_paths():
                ys = path.vertices[:, 1]
                ys = ys[ys == ys]  # NaN: a gap
                assert ys.size == 0 or (ys.min() >= 0.0 and ys.max() <= 100.0), "a band leaves [0, 100]"


def legend_labels(fig: Any) -> list[str]:
    return [t.get_text().replace("\n", " ") for legend in legends(fig) for t in legend.get_texts()]
