"""Figures of one cell of an experiment from the records its table used: per-class IoU bars, and
qualitative panels (image, ground truth, each row's predicted label map, as saved by the runs:
``save_predictions``). Each row is labelled by the report row whose record it shows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import rns_bench.toy  # noqa: F401  (registers the toy dataset a record may name)
from rns_bench.core.atomic_io import atomic_target
from rns_bench.core.errors import RNSBenchError
from rns_bench.data.datasets import resolve_data_root
from rns_bench.data.declared import dataset_spec
from rns_bench.ops.label_maps import voc_colormap


def showcase_records(
    candidates: Mapping[tuple[Any, str], Mapping[str, list[dict[str, Any]]]], rows: list[str]
) -> tuple[dict[str, dict[str, Any]], tuple[Any, str, int | None]]:
    """Report row → the record shown for it, and its (column, dataset, seed): of the cell (column, dataset)
    that most rows have records for, at the seed most of them share (the smallest on a tie).
    ``candidates``: (column, dataset) → report row → the records the table used there."""
    best: tuple[int, int] | None = None
    shown: dict[str, dict[str, Any]] = {}
    where: tuple[Any, str, int | None] = (None, "", None)
    for (column, dataset), by_row in candidates.items():
        usable = {row: [r for r in records if r["metrics"].get("per_class_IoU")] for row, records in by_row.items()}
        seeds = sorted({int(r["seed"]) for records in usable.values() for r in records})
        for seed in seeds:
            at_seed = {
                row: next(r for r in records if int(r["seed"]) == seed)
                for row in rows
                if (records := usable.get(row)) and any(int(r["seed"]) == seed for r in records)
            }
            score = (len(at_seed), -seed)
            if best is None or score > best:
                best, shown, where = score, at_seed, (column, dataset, seed)
    return shown, where


def save_figure(fig: Any, path: Path) -> None:
    """``fig`` as a PNG at ``path``, atomically: a killed report leaves the old image or none, never a
    0-byte one, and a symlink planted at ``path`` is replaced, never followed."""
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="png")


def plot_per_class(path: Path, shown: dict[str, dict[str, Any]], labels: Mapping[str, str], title: str = "") -> bool:
    """Grouped bars of per-class IoU, one group per class, one bar per row. False when nothing to show."""
    if not shown:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = list(next(iter(shown.values()))["metrics"]["per_class_IoU"])
    width = 0.8 / len(shown)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(classes) * len(shown) ** 0.5), 4), dpi=120)
    for index, (row, record) in enumerate(shown.items()):
        ious = [record["metrics"]["per_class_IoU"].get(c) for c in classes]
        ax.bar(
            np.arange(len(classes)) + index * width,
            [v if v is not None else 0.0 for v in ious],
            width,
            label=labels.get(row, row),
        )
    ax.set_xticks(np.arange(len(classes)) + 0.4 - width / 2, classes, rotation=90, fontsize=6)
    ax.set_ylabel("IoU (%)")
    ax.set_title(f"per-class IoU · {title}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return True


def plot_qualitative(
    path: Path, shown: dict[str, dict[str, Any]], labels: Mapping[str, str], max_images: int = 3
) -> str | None:
    """Image, ground truth and each row's prediction for the first saved test images. Returns why
    it could not be drawn, or None when it was."""
    with_predictions = {row: r for row, r in shown.items() if r.get("predictions")}
    if not with_predictions:
        return "no saved predictions in these records (save_predictions=0, or records from before it)"
    first = next(iter(with_predictions.values()))
    image_ids = [i for i in first["predictions"] if all(i in r["predictions"] for r in with_predictions.values())]
    image_ids = image_ids[:max_images]
    try:
        config = first.get("config") or {}
        root = resolve_data_root(config.get("data_root"))
        spec = dataset_spec(config.get("dataset") or first["dataset"], root)  # registered or declared
        reader = spec.make_reader(root)
        images = [(reader.read_image(i), reader.read_label(i)) for i in image_ids]
        predictions = {
            row: [np.asarray(Image.open(r["predictions"][i])) for i in image_ids] for row, r in with_predictions.items()
        }
    except (RNSBenchError, OSError) as error:
        return f"the images or predictions could not be read ({error})"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    palette = voc_colormap()
    columns = 2 + len(predictions)
    fig, axes = plt.subplots(
        len(image_ids), columns, figsize=(2.2 * columns, 2.2 * len(image_ids)), dpi=120, squeeze=False
    )
    for r, (image_id, (image, label)) in enumerate(zip(image_ids, images, strict=True)):
        panels = [("image", image), ("ground truth", palette[label])]
        panels += [(labels.get(row, row), palette[maps[r]]) for row, maps in predictions.items()]
        for c, (title, picture) in enumerate(panels):
            axes[r][c].imshow(picture)
            axes[r][c].set_axis_off()
            if r == 0:
                axes[r][c].set_title(title, fontsize=7)
        axes[r][0].text(0, -0.05, image_id, transform=axes[r][0].transAxes, fontsize=5, va="top")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return None
