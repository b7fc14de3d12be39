"""The figures of one cell, from the records its table used: per-class IoU (a class × row grid of IoU,
every class shown, a class absent from the test images marked) and qualitative panels (image, ground
truth, each row's predicted label map as the runs saved it, ``save_predictions``; a legend names the
colour of every class shown). ``*_figure`` build matplotlib Figures; :func:`figure_section` saves them."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rns_bench.core.errors import RNSBenchError
from rns_bench.data.datasets import resolve_data_root
from rns_bench.data.declared import dataset_spec
from rns_bench.ops.label_maps import voc_colormap
from rns_bench.report.cells import Cell, CellKey
from rns_bench.report.figures import save_figure
from rns_bench.report.spec import ExperimentSpec, column_name
from rns_bench.report.style import (
    CHAR_WIDTH,
    FONT_SIZE,
    PAGE_WIDTH,
    colour_patches,
    legend_below,
    new_figure,
    suptitle,
    wrap,
)
from rns_bench.runs.records import RunRecord

IGNORE = 255  # the label of pixels no class is scored on
ABSENT = (200, 200, 200)  # grey: a class not in the test images (no IoU)
CELL_W, CELL_H = 0.34, 0.17  # inches per IoU cell (an annotation "100" at 8 pt fits)


def showcase_records(
    candidates: Mapping[tuple[Any, str], Mapping[str, list[RunRecord]]], rows: list[str]
) -> tuple[dict[str, RunRecord], tuple[Any, str, int | None]]:
    """Report row → the record shown for it, and its (column, dataset, seed): of the cell (column, dataset)
    that most rows have records for, at the seed most of them share (the smallest on a tie).
    ``candidates``: (column, dataset) → report row → the records the table used there."""
    best: tuple[int, int] | None = None
    shown: dict[str, RunRecord] = {}
    where: tuple[Any, str, int | None] = (None, "", None)
    for (column, dataset), by_row in candidates.items():
        usable = {row: [r for r in records if r.per_class_iou] for row, records in by_row.items()}
        seeds = sorted({int(r.seed) for records in usable.values() for r in records})
        for seed in seeds:
            at_seed = {
                row: next(r for r in records if int(r.seed) == seed)
                for row in rows
                if (records := usable.get(row)) and any(int(r.seed) == seed for r in records)
            }
            score = (len(at_seed), -seed)
            if best is None or score > best:
                best, shown, where = score, at_seed, (column, dataset, seed)
    return shown, where


def _iou_grid(shown: dict[str, RunRecord]) -> tuple[list[str], np.ndarray]:
    """(class names, (classes, rows) IoU with NaN where a class is absent from the test images)."""
    classes = list(next(iter(shown.values())).metrics["per_class_IoU"])
    grid = np.array(
        [
            [math.nan if (v := r.metrics["per_class_IoU"].get(c)) is None else float(v) for r in shown.values()]
            for c in classes
        ],
        dtype=float,
    ).reshape(len(classes), len(shown))
    return classes, grid


def per_class_figure(shown: dict[str, RunRecord], labels: Mapping[str, str], title: str = "") -> Any | None:
    """Per-class IoU of each row as a class × row grid (value written in each cell, 0 included; grey
    where the class is absent), in as many side-by-side blocks as the page width holds. None: no records."""
    if not shown:
        return None
    classes, grid = _iou_grid(shown)
    label_w = min(1.5, CHAR_WIDTH * max(len(c) for c in classes) + 0.1)
    block_w = label_w + CELL_W * len(shown)
    blocks = max(1, min(math.ceil(len(classes) / 20), int((PAGE_WIDTH - 0.6) // block_w)))
    per_block = math.ceil(len(classes) / blocks)
    names = [wrap(labels.get(row, row), 14) for row in shown]
    header = CHAR_WIDTH * max(len(line) for n in names for line in n.split("\n")) + 0.2  # rotated row names
    height = CELL_H * per_block + header + 1.0
    fig, axes = new_figure(block_w * blocks + 0.9, height, 1, blocks)
    colours = _iou_colours()
    for index, ax in enumerate(axes[0]):
        part = slice(index * per_block, min(len(classes), (index + 1) * per_block))
        image = ax.imshow(np.ma.masked_invalid(grid[part]), cmap=colours, vmin=0, vmax=100, aspect="auto")
        ax.set_yticks(range(len(classes[part])), classes[part])
        ax.set_xticks(range(len(names)), names, rotation=90)
        ax.grid(False)
        for (i, j), value in np.ndenumerate(grid[part]):
            text = "–" if math.isnan(value) else f"{value:.0f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=FONT_SIZE, color="white" if value < 50 else "black")
    bar = fig.colorbar(image, ax=list(axes[0]), shrink=0.6, label="IoU (%)")
    bar.ax.tick_params(labelsize=FONT_SIZE)
    legend_below(fig, colour_patches([("", ABSENT)]), ["– : class not in the test images (no IoU)"])
    suptitle(fig, f"per-class IoU · {title}")
    return fig


def _iou_colours() -> Any:
    import matplotlib

    return matplotlib.colormaps["viridis"].with_extremes(bad=tuple(c / 255 for c in ABSENT))


def class_legend_entries(
    label_maps: Sequence[np.ndarray], class_names: Sequence[str]
) -> list[tuple[str, Sequence[int]]]:
    """(name, colour) of every class id in ``label_maps`` (the VOC palette's colours), and of ignored pixels."""
    palette = voc_colormap()
    present = sorted({int(v) for label in label_maps for v in np.unique(label)})
    entries = [(class_names[i] if i < len(class_names) else f"class {i}", palette[i]) for i in present if i != IGNORE]
    return entries + ([("ignored (255)", palette[IGNORE])] if IGNORE in present else [])


def qualitative_figure(
    images: Sequence[tuple[str, np.ndarray, np.ndarray]],
    predictions: Mapping[str, Sequence[np.ndarray]],
    labels: Mapping[str, str],
    class_names: Sequence[str],
) -> Any:
    """Image, ground truth and each row's prediction per test image (``images``: id, image, label), in the
    VOC palette, with a legend of the classes they show."""
    plt_columns = 2 + len(predictions)
    panel = min(1.5, PAGE_WIDTH / plt_columns)
    maps = [label for _, _, label in images] + [m for ms in predictions.values() for m in ms]
    entries = class_legend_entries(maps, class_names)
    legend_rows = math.ceil(len(entries) / max(1, int(panel * plt_columns / 1.2)))
    fig, axes = new_figure(
        panel * plt_columns, panel * len(images) + 0.5 + 0.22 * legend_rows, len(images), plt_columns
    )
    palette = voc_colormap()
    for r, (image_id, image, label) in enumerate(images):
        panels = [("image", image), ("ground truth", palette[label])]
        panels += [(labels.get(row, row), palette[rows_maps[r]]) for row, rows_maps in predictions.items()]
        for c, (title, picture) in enumerate(panels):
            axes[r][c].imshow(picture)
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
            if r == 0:
                axes[r][c].set_title(wrap(title, int(panel / CHAR_WIDTH)), fontsize=FONT_SIZE)
        axes[r][0].set_ylabel(image_id, fontsize=FONT_SIZE)
    legend_below(fig, colour_patches(entries), [name for name, _ in entries])
    return fig


def _read_panels(
    shown: dict[str, RunRecord], max_images: int
) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], dict[str, list[np.ndarray]]] | str:
    """The first saved test images with their ground truth and each row's prediction; why not, as a string."""
    with_predictions = {row: r for row, r in shown.items() if r.predictions}
    if not with_predictions:
        return "no saved predictions in these records (save_predictions=0, or records from before it)"
    first = next(iter(with_predictions.values()))
    image_ids = [i for i in first.predictions if all(i in r.predictions for r in with_predictions.values())]
    image_ids = image_ids[:max_images]
    try:
        config = first.config or {}
        root = resolve_data_root(config.get("data_root"))
        spec = dataset_spec(config.get("dataset") or first.dataset, root)  # registered or declared
        reader = spec.make_reader(root)
        images = [(i, reader.read_image(i), reader.read_label(i)) for i in image_ids]
        predictions = {
            row: [np.asarray(Image.open(r.predictions[i])) for i in image_ids] for row, r in with_predictions.items()
        }
    except (RNSBenchError, OSError) as error:
        return f"the images or predictions could not be read ({error})"
    return images, predictions


def plot_per_class(path: Path, shown: dict[str, RunRecord], labels: Mapping[str, str], title: str = "") -> bool:
    fig = per_class_figure(shown, labels, title)
    if fig is not None:
        save_figure(fig, path)
    return fig is not None


def plot_qualitative(
    path: Path, shown: dict[str, RunRecord], labels: Mapping[str, str], max_images: int = 3
) -> str | None:
    """Save :func:`qualitative_figure` of the first saved test images; why it could not be drawn, or None."""
    read = _read_panels(shown, max_images)
    if isinstance(read, str):
        return read
    class_names = list(next(iter(shown.values())).metrics["per_class_IoU"])
    save_figure(qualitative_figure(*read, labels, class_names), path)
    return None


def shown_cell(spec: ExperimentSpec, cells: dict[CellKey, Cell]) -> tuple[dict[str, RunRecord], str]:
    """The records of the cell the per-class and qualitative figures show, and its title."""
    candidates: dict[tuple[Any, str], dict[str, list[RunRecord]]] = defaultdict(dict)
    for (row, column, subset), cell in cells.items():
        if subset == spec.subsets[0]:
            for dataset, records in cell.records.items():
                candidates[column, dataset][row] = records
    shown, (column, dataset, seed) = showcase_records(candidates, list(spec.rows))
    return shown, (f"{dataset} · {column_name(spec, column)} · seed {seed}" if shown else "")


def figure_section(spec: ExperimentSpec, cells: dict[CellKey, Cell], out_dir: Path) -> str:
    """Per-class IoU and qualitative panels of one shown cell, from the records the table used; the
    markdown lines that name them."""
    shown, title = shown_cell(spec, cells)
    lines = ["", "## Figures", ""]
    if plot_per_class(out_dir / "per_class.png", shown, spec.rows, title):
        lines.append(f"* per_class.png: per-class IoU of one cell ({title}), every row")
    why = plot_qualitative(out_dir / "qualitative.png", shown, spec.rows) if shown else "no records"
    lines.append(
        "* qualitative.png: image, ground truth, each row's prediction"
        if why is None
        else f"* qualitative panels skipped: {why}"
    )
    return "\n".join(lines) + "\n"
