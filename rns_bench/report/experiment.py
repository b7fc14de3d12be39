"""The report of an experiment (``configs/experiment/<name>.yaml``), rebuilt from records alone.

For each row and B: the mean over support seeds per dataset, then the mean over the experiment's
``average_over`` datasets as the paper averages, next to the published value (``reference``) and the
difference. A cell whose datasets are not all there says how many it has and shows no difference; a
cell whose records come from several configs (fingerprints) uses the newest config and is flagged.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from rns_bench.core.atomic_io import write_text_atomic
from rns_bench.core.errors import ConfigError
from rns_bench.report.published import PublishedValue, published_values
from rns_bench.runs.config import CONFIG_DIR
from rns_bench.runs.records import read_records


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    title: str
    rows: dict[str, str]  # row → label, in table order
    shots: list[int]
    average_over: list[str]
    reference: str = ""
    reference_dataset: str = ""


def load_experiment(name: str, config_dir: Path = CONFIG_DIR) -> ExperimentSpec:
    path = config_dir / "experiment" / f"{name}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in (config_dir / "experiment").glob("*.yaml"))
        raise ConfigError(f"no experiment {path}; experiments: {', '.join(names) or '(none)'}")
    cfg = OmegaConf.load(path)
    spec = cfg.get("experiment")
    if spec is None or "rows" not in spec:
        raise ConfigError(f"{path} has no experiment.rows (row → label): it cannot be reported")
    return ExperimentSpec(name=str(spec.get("name", name)), title=str(spec.get("title", name)),
                          rows={str(k): str(v) for k, v in spec.rows.items()},
                          shots=[int(b) for b in cfg.get("shots", [])],
                          average_over=[str(d) for d in spec.get("average_over", [])],
                          reference=str(spec.get("reference", "")),
                          reference_dataset=str(spec.get("reference_dataset", "")))


@dataclass
class Cell:
    """One (row, B): per-dataset seed means, and what the reader should know about them."""

    per_dataset: dict[str, float]
    runs: int
    test_images: dict[str, int]
    mixed_configs: list[str]

    def mean_over(self, datasets: list[str]) -> float | None:
        values = [self.per_dataset[d] for d in datasets if d in self.per_dataset]
        return statistics.fmean(values) if values else None


def collect_cells(spec: ExperimentSpec, results_dir: Path, backbone: str, protocol: str) -> dict[tuple[str, int], Cell]:
    """(row, B) → its cell, from every record of ``backbone``/``protocol`` under ``results_dir``."""
    datasets = sorted(p.name for p in Path(results_dir).iterdir() if (p / backbone / protocol).is_dir()) \
        if Path(results_dir).is_dir() else []
    grouped: dict[tuple[str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for dataset in datasets:
        for record in read_records(results_dir, dataset, backbone, protocol):
            if record["row"] in spec.rows:
                grouped[(record["row"], int(record["shots"]), dataset)].append(record)
    cells: dict[tuple[str, int], Cell] = {}
    for (row, shots, dataset), records in sorted(grouped.items()):
        configs = defaultdict(list)
        for record in records:
            configs[record.get("config_fingerprint", "")].append(record)
        newest = max(configs, key=lambda fp: max(r.get("created", "") for r in configs[fp]))
        chosen = configs[newest]
        cell = cells.setdefault((row, shots), Cell({}, 0, {}, []))
        cell.per_dataset[dataset] = statistics.fmean(float(r["metrics"]["mIoU"]) for r in chosen)
        cell.runs += len(chosen)
        cell.test_images[dataset] = int(chosen[0].get("num_test_images", 0))
        if len(configs) > 1:
            cell.mixed_configs.append(f"{dataset}: {len(configs)} configs, newest {newest[:6]} used")
    return cells


def _published(spec: ExperimentSpec) -> dict[tuple[str, int], PublishedValue]:
    if not spec.reference:
        return {}
    return {(v.method_row, v.shots): v for v in published_values()
            if v.table == spec.reference and v.dataset == spec.reference_dataset and v.subset == "A"}


def build_report(name: str, results_dir: Path, backbone: str, protocol: str = "full",
                 out_dir: Path | None = None) -> str:
    """Write report.md / .csv / .tex / .png of experiment ``name`` and return the markdown."""
    spec = load_experiment(name)
    cells = collect_cells(spec, Path(results_dir), backbone, protocol)
    published = _published(spec)
    out_dir = Path(out_dir or Path(results_dir) / "reports" / spec.name / backbone / protocol)
    rows_out, notes = [], []
    for row, label in spec.rows.items():
        for shots in spec.shots:
            cell = cells.get((row, shots))
            paper = published.get((row, shots))
            have = sorted(cell.per_dataset) if cell else []
            complete = bool(spec.average_over) and set(spec.average_over) <= set(have)
            counted = len(set(have) & set(spec.average_over)) if spec.average_over else len(have)
            ours = cell.mean_over(spec.average_over if complete else have) if cell else None
            rows_out.append({"row": row, "label": label, "shots": shots, "ours": ours,
                             "paper": paper.value if paper else None,
                             "diff": ours - paper.value if complete and paper and ours is not None else None,
                             "datasets": f"{counted}/{len(spec.average_over) or len(have)}",
                             "runs": cell.runs if cell else 0,
                             "test_images": sum(cell.test_images.values()) if cell else 0})
            if cell is None:
                notes.append(f"missing: {label} at B = {shots} has no records")
            elif not complete and spec.average_over:
                missing = sorted(set(spec.average_over) - set(have))
                notes.append(f"{label} B = {shots}: mean over {', '.join(have)} only (missing {', '.join(missing)}); "
                             "not comparable with the paper's mean")
            for mixed in cell.mixed_configs if cell else []:
                notes.append(f"⚠ {label} B = {shots}, {mixed}")
    text = _markdown(spec, backbone, protocol, rows_out, cells, notes)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "report.md", text)
    _write_csv(out_dir / "report.csv", rows_out)
    write_text_atomic(out_dir / "report.tex", _latex(spec, rows_out))
    _plot(out_dir / "report.png", spec, rows_out)
    return text


def _fmt(value: float | None, signed: bool = False) -> str:
    return "–" if value is None else (f"{value:+.2f}" if signed else f"{value:.2f}")


def _markdown(spec: ExperimentSpec, backbone: str, protocol: str, rows_out: list[dict], cells: dict,
              notes: list[str]) -> str:
    header = "| method | " + " | ".join(f"B = {b} (ours / paper / Δ)" for b in spec.shots) + " |"
    lines = [f"# {spec.title}", "", f"backbone {backbone} · protocol {protocol} · mean over "
             f"{', '.join(spec.average_over) or 'the datasets present'}; mIoU (%)", "", header,
             "|---|" + "---|" * len(spec.shots)]
    by_row = defaultdict(dict)
    for r in rows_out:
        by_row[r["label"]][r["shots"]] = r
    for label, per_shots in by_row.items():
        cells_text = []
        for b in spec.shots:
            r = per_shots[b]
            cells_text.append(f"{_fmt(r['ours'])} / {_fmt(r['paper'])} / {_fmt(r['diff'], True)} "
                              f"({r['datasets']} datasets, {r['runs']} runs, {r['test_images']} test images)")
        lines.append(f"| {label} | " + " | ".join(cells_text) + " |")
    datasets = sorted({d for cell in cells.values() for d in cell.per_dataset})
    if datasets:
        lines += ["", "## Per dataset (mean over seeds)", "",
                  "| method | B | " + " | ".join(datasets) + " |", "|---|---|" + "---|" * len(datasets)]
        for row, label in spec.rows.items():
            for b in spec.shots:
                cell = cells.get((row, b))
                if cell:
                    lines.append(f"| {label} | {b} | " + " | ".join(_fmt(cell.per_dataset.get(d)) for d in datasets)
                                 + " |")
    if notes:
        lines += ["", *[f"* {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def _write_csv(path: Path, rows_out: list[dict]) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows_out[0]) if rows_out else ["row"])
        writer.writeheader()
        writer.writerows(rows_out)


def _latex(spec: ExperimentSpec, rows_out: list[dict]) -> str:
    by_row = defaultdict(dict)
    for r in rows_out:
        by_row[r["label"]][r["shots"]] = r
    lines = [r"\begin{tabular}{l" + "rr" * len(spec.shots) + "}", r"\toprule",
             "Method & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{B = {b}}}" for b in spec.shots) + r" \\",
             " & " + " & ".join("ours & paper" for _ in spec.shots) + r" \\", r"\midrule"]
    for label, per_shots in by_row.items():
        values = " & ".join(f"{_fmt(per_shots[b]['ours'])} & {_fmt(per_shots[b]['paper'])}" for b in spec.shots)
        latex_label = label.replace("α", r"$\alpha$")
        lines.append(f"{latex_label} & {values} " + r"\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines).replace("–", "--") + "\n"


def _plot(path: Path, spec: ExperimentSpec, rows_out: list[dict]) -> None:
    """mIoU against B per row (ours solid, the paper's dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for index, (row, label) in enumerate(spec.rows.items()):
        mine = [(r["shots"], r["ours"]) for r in rows_out if r["row"] == row and r["ours"] is not None]
        paper = [(r["shots"], r["paper"]) for r in rows_out if r["row"] == row and r["paper"] is not None]
        color = f"C{index}"
        if mine:
            ax.plot(*zip(*mine, strict=True), marker="o", color=color, label=f"{label} (ours)")
        if paper:
            ax.plot(*zip(*paper, strict=True), marker="x", linestyle="--", color=color, label=f"{label} (paper)")
    ax.set_xlabel("support images per class (B)")
    ax.set_ylabel("mIoU (%)")
    ax.set_title(spec.title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
