"""The report of a personalized-segmentation experiment (Fig. 7, ``experiment.kind: personalized``),
from its records alone (``results/toy/<backbone>/personalized/<row>/<fingerprint>.json`` and the
label maps beside them; :mod:`rns_bench.bench.personalized` writes them). Each row shows only its record
of the study the experiment declares (with the command line's overrides): another setup, option or
backbone setting is left out and listed, never shown under the row's name.

``report.md`` / ``report.csv``: per row, IoU of the personal and the generic class before and after
the instance's support is added, and where the instance's pixels go. ``report.png``: the Fig. 7-style
figure — image, before, after (green = the personal instance, red = its generic class, black = every
other class) for the first row, with each further row's "after" beside it. ``support.png``: the
instance's support images with their masks (Fig. 16).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rns_bench.core.atomic_io import atomic_target, write_text_atomic
from rns_bench.report.declared import Declarations
from rns_bench.report.selection import LeftOut
from rns_bench.report.style import (
    CHAR_WIDTH,
    DPI,
    FONT_SIZE,
    PAGE_WIDTH,
    colour_patches,
    legend_below,
    new_figure,
    pyplot,
    wrap,
)
from rns_bench.report.tables import write_csv
from rns_bench.runs.config import declared_study, method_row, study_identity
from rns_bench.runs.fingerprint import fingerprint, identity_differences
from rns_bench.runs.key import DATASET, STUDY, study_folder
from rns_bench.runs.records import RunRecord, load_record

GREEN, RED, BLACK, GREY = (0, 200, 0), (220, 0, 0), (0, 0, 0), (128, 128, 128)
FIGURE_IMAGES = 4  # scenes in the figure (the paper shows four)
METRICS = (
    ("personal_IoU", "IoU {personal}"),
    ("generic_IoU", "IoU {generic}"),
    ("generic_IoU_without_instance", "IoU {generic} (instance ignored)"),
    ("instance_as_personal", "instance → {personal} (%)"),
    ("instance_as_generic", "instance → {generic} (%)"),
    ("generic_as_personal", "{generic} → {personal} (%)"),
)


@dataclass(frozen=True)
class Shown:
    """A row's record of the declared study, and the folder of its label maps beside it."""

    record: RunRecord
    folder: Path


def personalized_backbones(results_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in Path(results_dir).glob(f"{DATASET}/*/{STUDY}") if p.is_dir())


def declared_records(
    results_dir: Path, backbone: str, declared: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, Shown], LeftOut]:
    """row → its record of the declared study identity (``declared``: row → identity); every other record
    of those rows is left out, by reason (another setup, option or backbone setting; unreadable)."""
    found, left_out = {}, LeftOut()
    for row, identity in declared.items():
        wanted = fingerprint(identity)
        for path in sorted((study_folder(results_dir, backbone) / row).glob("*.json")):
            record = load_record(path)
            if not isinstance(record, RunRecord) or not isinstance(record.identity, Mapping):
                left_out.add(f"unusable file {path}: unreadable (truncated, not JSON, or not a record)", row, DATASET)
            elif record.fingerprint == wanted:
                found[row] = Shown(record, path.parent / str(record.images if record.images is not None else path.stem))
            else:
                differ = identity_differences([record.identity, identity])
                left_out.add(
                    f"another config: differs in {', '.join(differ[:3]) or 'its fingerprint'}"
                    f"{f' and {len(differ) - 3} more' if len(differ) > 3 else ''}",
                    row,
                    DATASET,
                )
    return found, left_out


def declared_identities(
    name: str, backbone: str, rows: Sequence[str], overrides: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """row → the study identity experiment ``name`` declares for it on ``backbone`` with ``overrides`` (the
    job's own: the same ``ARGS``)."""
    cfg = Declarations(name, backbone, overrides).base
    setup, backbone_name, options = declared_study(cfg)
    identities = {}
    for row in rows:
        method = method_row(cfg, row)
        identities[row] = json.loads(
            json.dumps(study_identity(setup, backbone_name, options, method.method, method.options))
        )
    return identities


def build_personalized_report(
    name: str,
    title: str,
    rows: dict[str, str],
    results_dir: Path,
    backbone: str,
    out_dir: Path,
    overrides: Sequence[str] = (),
) -> str:
    shown, left_out = declared_records(
        results_dir, backbone, declared_identities(name, backbone, list(rows), overrides)
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# {title}",
        "",
        f"Backbone `{backbone}`, the toy world. Records: `{study_folder(results_dir, backbone)}`.",
        "",
    ]
    if not shown:
        lines.append(f"No records of the declared config yet: run `make experiment NAME={name}`.")
        lines += left_out.markdown()
        text = "\n".join(lines) + "\n"
        write_text_atomic(out_dir / "report.md", text)
        return text
    first = next(iter(shown.values()))
    personal, generic = first.record.personal_class, first.record.generic_class
    lines += [_setup_sentence(first.record.identity["setup"], personal, generic), ""]
    lines += _metrics_table(shown, rows, personal, generic)
    missing = [rows[r] for r in rows if r not in shown]
    if missing:
        lines += ["", f"No record of the declared config yet for: {', '.join(missing)}."]
    figure = _figure(shown, rows, out_dir / "report.png")
    support = _support_figure(first, out_dir / "support.png")
    lines += [
        "",
        f"![Fig. 7-style: image, before, after]({figure.name})" if figure else "",
        "Green: the personal instance, red: the generic class, black: everything else.",
        "",
        f"![the instance's support (Fig. 16)]({support.name})" if support else "",
    ]
    lines += left_out.markdown()
    text = "\n".join(lines) + "\n"
    write_text_atomic(out_dir / "report.md", text)
    table = [
        [row, key, round(s.record.metrics["before"][key], 2), round(s.record.metrics["after"][key], 2)]
        for row, s in shown.items()
        for key, _ in METRICS
    ]
    write_csv(out_dir / "report.csv", ["row", "metric", "before", "after"], table)
    return text


def _setup_sentence(setup: Mapping[str, Any], personal: str, generic: str) -> str:
    """What the study's support and test sets hold, in one paragraph."""
    return (
        f"Support before: {setup['generic_support_per_class']} train scenes per toy class. Added at run time: "
        f"the class **{personal}** with {setup['personal_support']} support images of the instance (masks: "
        f"the instance only). Test: {setup['test_with_instance']} scenes with the instance and a generic "
        f"{generic}, {setup['test_without_instance']} with a generic {generic} only. IoU in %, over the toy "
        f"classes plus {personal}; before, {personal} is not in the vocabulary."
    )


def _metrics_table(shown: dict[str, Shown], rows: dict[str, str], personal: str, generic: str) -> list[str]:
    """Markdown: a line per row with each metric before → after the instance's support is added."""
    header = ["row", *(label.format(personal=personal, generic=generic) for _, label in METRICS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, s in shown.items():
        before, after = s.record.metrics["before"], s.record.metrics["after"]
        cells = [f"{before[key]:.1f} → **{after[key]:.1f}**" for key, _ in METRICS]
        lines.append(f"| {rows[row]} | " + " | ".join(cells) + " |")
    return lines


def colour_map(label: np.ndarray, generic: int, personal: int) -> np.ndarray:
    """(H, W, 3) uint8 in Fig. 7's colours; 255 (ignore, ground truth only) grey."""
    out = np.zeros((*label.shape, 3), np.uint8)
    out[label == generic] = RED
    out[label == personal] = GREEN
    out[label == 255] = GREY
    return out


def _read(folder: Path, name: str) -> np.ndarray | None:
    path = folder / name
    return np.array(Image.open(path)) if path.is_file() else None


def personalized_figure(shown: dict[str, Shown], rows: dict[str, str]) -> Any | None:
    """The Fig. 7-style figure (image, truth, before, after of the first row, each further row's after), with
    a legend of its colours; None when the study saved no scenes."""
    first_row, first = next((row, s.record) for row, s in shown.items())
    generic = first.class_names.index(first.generic_class)
    personal = first.class_names.index(first.personal_class)
    count = min(FIGURE_IMAGES, int(first.shown or 0))
    if count == 0:
        return None
    columns = [
        ("image", first_row, "image"),
        ("truth", first_row, "ground truth"),
        ("before", first_row, f"{rows[first_row]}, before"),
        ("after", first_row, f"{rows[first_row]}, after"),
        *(("after", row, f"{rows[row]}, after") for row in list(shown)[1:]),
    ]
    panel = min(1.4, PAGE_WIDTH / len(columns))
    fig, axes = new_figure(panel * len(columns), panel * count + 0.8, count, len(columns))
    for i in range(count):
        for j, (part, row, label) in enumerate(columns):
            array = _read(shown[row].folder, f"{part}_{i}.png")
            ax = axes[i][j]
            ax.axis("off")
            if array is not None:
                ax.imshow(array if part == "image" else colour_map(array, generic, personal))
            if i == 0:
                ax.set_title(wrap(label, int(panel / CHAR_WIDTH)), fontsize=FONT_SIZE)
    named = [
        (f"{first.personal_class} (the instance)", GREEN),
        (f"{first.generic_class} (generic)", RED),
        ("every other class", BLACK),
        ("ignored (255)", GREY),
    ]
    legend_below(fig, colour_patches(named), [name for name, _ in named])
    return fig


def _figure(shown: dict[str, Shown], rows: dict[str, str], path: Path) -> Path | None:
    fig = personalized_figure(shown, rows)
    if fig is None:
        return None
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    pyplot().close(fig)
    return path


def _support_figure(shown: Shown, path: Path) -> Path | None:
    folder, count = shown.folder, int(shown.record.support_images or 0)
    tiles = []
    for i in range(count):
        image, mask = _read(folder, f"support_{i}.png"), _read(folder, f"support_mask_{i}.png")
        if image is None or mask is None:
            continue
        tinted = image.copy()
        tinted[mask > 0] = (0.5 * tinted[mask > 0] + 0.5 * np.asarray(GREEN)).astype(np.uint8)
        tiles.append(tinted)
    if not tiles:
        return None
    height = max(t.shape[0] for t in tiles)
    padded = [np.pad(t, ((0, height - t.shape[0]), (0, 4), (0, 0)), constant_values=255) for t in tiles]
    with atomic_target(path) as tmp:
        Image.fromarray(np.concatenate(padded, axis=1)).save(tmp, format="PNG")
    return path
