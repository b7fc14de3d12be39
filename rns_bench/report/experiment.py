"""The report of an experiment (``configs/experiment/<name>.yaml``), rebuilt from records alone.

A report is rows × columns. Columns are B (``shots``), a fraction of classes without images or
names (``visual_drop_fraction`` / ``text_drop_fraction``, optionally split into the S / U / A class
subsets of Table 3) or datasets (``dataset``, with the Avg. over ``average_over``). A row is a method
row, ``row@B`` to fix its B (Table 4's "RNS B = 1"), ``rns_full_reference``: RNS with full support
scored on the same seen / unseen class sets as the partial runs (Table 3), or ``row~ood``: the row with
support drawn from another dataset (Fig. 9; ``out_of_domain`` maps each test dataset to it, records
under ``<protocol>_support-<key>``).

Each cell is the mean over support seeds per dataset, then the mean over the ``average_over``
datasets as the paper averages, next to the published value (``rns_bench/report/paper/published.csv``) and the
difference. A cell reads only records of the config the experiment declares, with the sweep's overrides
(``rns_bench.report.declared``: row options, protocol, B, seeds, the full test split unless ``test_limit``
is declared), on the datasets it declares; the report lists what it left out and why
(``rns_bench.report.selection``). A cell without such records is shown missing, never filled from another
config. A cell whose declared datasets are not all there says how many it has and shows no difference.
Every output (md, csv, tex, png) is written atomically: a killed report leaves the old file or none, and
a symlink planted at an output path is replaced, never followed.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from rns_bench.core.atomic_io import write_text_atomic
from rns_bench.core.errors import ConfigError
from rns_bench.core.paths import CONFIG_DIR
from rns_bench.report.declared import Declarations, protocol_overrides, with_overrides
from rns_bench.report.figures import plot_per_class, plot_qualitative, save_figure, showcase_records
from rns_bench.report.personalized import build_personalized_report, personalized_backbones
from rns_bench.report.published import published_values
from rns_bench.report.selection import LeftOut, RecordPool, newest_config
from rns_bench.runs.config import protocol_tag
from rns_bench.runs.key import STUDY as PERSONALIZED
from rns_bench.support.partial import dropped_classes

COLUMN_KINDS = ("shots", "visual_drop_fraction", "text_drop_fraction", "dataset")
SUBSET_METRICS = {"A": "mIoU", "S": "mIoU_supported", "U": "mIoU_unsupported"}
FULL_REFERENCE = "rns_full_reference"
OUT_OF_DOMAIN = "~ood"


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    title: str
    rows: dict[str, str]  # row (or row@B) → label, in table order
    shots: list[int]
    average_over: list[str]
    columns: str = "shots"
    fractions: list[float] = field(default_factory=list)
    subsets: list[str] = field(default_factory=lambda: ["A"])
    protocol: str = "full"  # the results folder of shots / dataset columns (e.g. full_region-sam2)
    reference: str = ""
    reference_dataset: str = ""
    datasets: tuple[str, ...] = ()  # the datasets the sweep declares (its own, or the command line's dataset=)
    extra_datasets: tuple[str, ...] = ()  # dataset columns of declared datasets beyond the paper's (e.g. toy)
    plot: str = "lines"  # lines | runtime (mIoU against inference seconds per image, Fig. 13)
    out_of_domain: dict[str, str] = field(default_factory=dict)  # test dataset → support dataset of ~ood rows
    kind: str = "sweep"  # sweep | personalized (Fig. 7: a study of its own, rns_bench.report.personalized)
    declared: Declarations | None = None  # the declared config of each cell (resolve_spec)

    def column_values(self) -> list[Any]:
        if self.columns == "shots":
            return list(self.shots)
        if self.columns == "dataset":
            return [*self.average_over, *self.extra_datasets, "Avg."]
        return list(self.fractions)


def load_experiment(name: str, config_dir: Path = CONFIG_DIR) -> ExperimentSpec:
    path = config_dir / "experiment" / f"{name}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in (config_dir / "experiment").glob("*.yaml"))
        raise ConfigError(f"no experiment {path}; experiments: {', '.join(names) or '(none)'}")
    cfg = OmegaConf.load(path)
    spec = cfg.get("experiment")
    if spec is None or "rows" not in spec:
        raise ConfigError(f"{path} has no experiment.rows (row → label): it cannot be reported")
    columns = str(spec.get("columns", "shots"))
    if columns not in COLUMN_KINDS:
        raise ConfigError(f"{path}: experiment.columns={columns!r}; choose one of {', '.join(COLUMN_KINDS)}")
    subsets = [str(s) for s in spec.get("subsets", ["A"])]
    if set(subsets) - set(SUBSET_METRICS):
        raise ConfigError(f"{path}: experiment.subsets={subsets}; use S, U and / or A")
    return ExperimentSpec(
        name=str(spec.get("name", name)),
        title=str(spec.get("title", name)),
        rows={str(k): str(v) for k, v in spec.rows.items()},
        shots=[int(b) for b in cfg.get("shots", [])],
        average_over=[str(d) for d in spec.get("average_over", [])],
        columns=columns,
        fractions=[float(f) for f in spec.get("fractions", [])],
        subsets=subsets,
        protocol=str(spec.get("protocol", "full")),
        reference=str(spec.get("reference", "")),
        reference_dataset=str(spec.get("reference_dataset", "")),
        plot=str(spec.get("plot", "lines")),
        out_of_domain={str(k): str(v) for k, v in (spec.get("out_of_domain") or {}).items()},
        kind=str(spec.get("kind", "sweep")),
    )


@dataclass
class Cell:
    """One (row, column, subset): per-dataset seed means, and what the reader should know about them."""

    per_dataset: dict[str, float] = field(default_factory=dict)
    runs: int = 0
    test_images: int = 0
    notes: list[str] = field(default_factory=list)
    method_seconds: list[float] = field(default_factory=list)  # per image, one per record that measured it
    pipeline_seconds: dict[str, dict[str, float]] = field(default_factory=dict)  # dataset → part → s / image
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # dataset → the records used
    sources: dict[str, str] = field(default_factory=dict)  # dataset → the results folder they are from

    def mean_over(self, datasets: list[str]) -> float | None:
        values = [self.per_dataset[d] for d in datasets if d in self.per_dataset]
        return statistics.fmean(values) if values else None


def _row_and_shots(row: str, spec: ExperimentSpec) -> tuple[str, int | None]:
    name, _, shots = row.removesuffix(OUT_OF_DOMAIN).partition("@")
    if shots:
        return name, int(shots)
    return name, (spec.shots[0] if spec.columns != "shots" and spec.shots else None)


def _protocol_of(spec: ExperimentSpec, column: Any, row: str) -> str:
    # A region-mode experiment (protocol full_region-sam2, Fig. 11) reads its fraction columns from
    # the region folders too (nv0.5_nt0_region-sam2).
    proposer = spec.protocol.partition("_region-")[2]
    mode = ("region", proposer) if proposer else ("patch", None)
    if spec.columns == "visual_drop_fraction" and row != FULL_REFERENCE:
        return protocol_tag(column, 0.0, *mode)
    if spec.columns == "text_drop_fraction":
        return protocol_tag(0.0, column, *mode)
    return spec.protocol


def _subset_value(record: dict[str, Any], subset: str, row: str, fraction: float | None) -> float | None:
    if row == FULL_REFERENCE and fraction is not None:  # full support, scored on the partial run's class sets
        ious = list(record["metrics"]["per_class_IoU"].values())
        unseen = set(dropped_classes(len(ious), fraction, int(record["seed"])))
        chosen = [
            v for c, v in enumerate(ious) if v is not None and (subset == "A" or (c in unseen) == (subset == "U"))
        ]
        return statistics.fmean(chosen) if chosen else None
    value = record["metrics"].get(SUBSET_METRICS[subset])
    return float(value) if value is not None else None


PIPELINE_PARTS = ("extraction_test", "proposals")  # what every method on one backbone pays per test image


def pipeline_seconds(records: list[dict[str, Any]]) -> dict[str, float]:
    """Part → mean seconds per test image of the method-independent parts (test feature extraction,
    region proposals) over the records that measured them. Only the run that extracted an image
    measures it (later runs read the cache), so the figure is shared by every row of one folder."""
    parts = {}
    for part in PIPELINE_PARTS:
        values = [float(v) for r in records if (v := (r.get("seconds_per_image") or {}).get(part)) is not None]
        if values:
            parts[part] = statistics.fmean(values)
    return parts


def _datasets(spec: ExperimentSpec, results_dir: Path, backbone: str) -> list[str]:
    """The declared datasets with a ``backbone`` folder under ``results_dir``."""
    return [d for d in spec.datasets if (Path(results_dir) / d / backbone).is_dir()]


def with_found_datasets(spec: ExperimentSpec, results_dir: Path, backbone: str) -> ExperimentSpec:
    """A per-dataset experiment (Table 4) gets a column for each declared dataset with records that the
    paper's columns do not name (toy, a user's own, given by ``dataset=``), before the Avg. (which stays
    the paper's mean)."""
    if spec.columns != "dataset":
        return spec
    extra = tuple(
        d
        for d in _datasets(spec, results_dir, backbone)
        if d not in spec.average_over and (Path(results_dir) / d / backbone / spec.protocol).is_dir()
    )
    return replace(spec, extra_datasets=extra)


def collect_cells(
    spec: ExperimentSpec, results_dir: Path, backbone: str
) -> tuple[dict[tuple[str, Any, str], Cell], LeftOut]:
    """(row, column value, subset) → its cell, from the records of the declared configs under
    ``results_dir``; and what was left out."""
    if spec.declared is None:
        raise ValueError(f"experiment {spec.name}: resolve_spec() gives the spec its declared configs")
    datasets = _datasets(spec, Path(results_dir), backbone)
    pool = RecordPool(Path(results_dir), backbone, spec.declared)
    cells: dict[tuple[str, Any, str], Cell] = {}
    folders = set()  # every results folder the report reads, whichever dataset
    for row in spec.rows:
        name, fixed_shots = _row_and_shots(row, spec)
        for column in spec.column_values():
            if column == "Avg.":
                continue
            protocol = _protocol_of(spec, column, name)
            folders |= (
                {f"{protocol}_support-{s}" for s in spec.out_of_domain.values()}
                if row.endswith(OUT_OF_DOMAIN)
                else {protocol}
            )
            shots = column if spec.columns == "shots" else fixed_shots
            fraction = column if spec.columns.endswith("fraction") else None
            in_scope = ([column] if column in datasets else []) if spec.columns == "dataset" else datasets
            for dataset in in_scope:
                source = protocol
                if row.endswith(OUT_OF_DOMAIN):
                    if dataset not in spec.out_of_domain:
                        continue
                    source = f"{protocol}_support-{spec.out_of_domain[dataset]}"
                records = [
                    r
                    for r in pool.matched(dataset, source, _source_row(name))
                    if shots is None or int(r["shots"]) == shots
                ]
                if records:
                    _fill(cells, spec, (row, column), dataset, source, records, pool, fraction)
    for cell in cells.values():  # extraction and proposals: measured by whichever declared run computed them
        cell.pipeline_seconds = {d: pipeline_seconds(pool.matched_in(d, source)) for d, source in cell.sources.items()}
    rows = {_source_row(_row_and_shots(r, spec)[0]) for r in spec.rows}
    return cells, pool.finish(spec.datasets, rows, folders)


def _source_row(name: str) -> str:
    return "rns" if name == FULL_REFERENCE else name


def _fill(
    cells: dict[tuple[str, Any, str], Cell],
    spec: ExperimentSpec,
    where: tuple[str, Any],
    dataset: str,
    source: str,
    records: list[dict[str, Any]],
    pool: RecordPool,
    fraction: float | None,
) -> None:
    """Put ``dataset``'s records (all of the declared config) into the cells of (row, column) ``where``."""
    row, column = where
    chosen, note = newest_config(records)
    pool.use(chosen)
    for subset in spec.subsets:
        values = [
            v for r in chosen if (v := _subset_value(r, subset, _row_and_shots(row, spec)[0], fraction)) is not None
        ]
        if not values:
            continue
        cell = cells.setdefault((row, column, subset), Cell())
        cell.per_dataset[dataset] = statistics.fmean(values)
        cell.runs += len(values)
        cell.test_images += int(chosen[0].get("num_test_images", 0))
        cell.method_seconds += [
            float(s) for r in chosen if (s := (r.get("seconds_per_image") or {}).get("method")) is not None
        ]
        cell.records[dataset], cell.sources[dataset] = chosen, source
        if note:
            cell.notes.append(f"{dataset}: {note}")


def _published_lookup(spec: ExperimentSpec, backbone: str):
    values = [v for v in published_values() if v.table == spec.reference] if spec.reference else []

    def find(row: str, column: Any, subset: str) -> float | None:
        name, fixed_shots = _row_and_shots(row, spec)
        for v in values:
            if v.method_row != name or v.subset != subset or not v.resolved:
                continue
            if v.backbone not in ("unstated", backbone):
                continue
            if spec.columns == "shots" and (v.shots != column or v.dataset != spec.reference_dataset):
                continue
            if spec.columns == "dataset":
                wanted = spec.reference_dataset if column == "Avg." else column
                if v.dataset != wanted or (fixed_shots is not None and v.shots not in (None, fixed_shots)):
                    continue
            if spec.columns.endswith("fraction") and abs(v.unseen_fraction - column) > 1e-9:
                continue
            if spec.columns.endswith("fraction") and spec.reference_dataset and v.dataset != spec.reference_dataset:
                continue
            return v.value
        return None

    return find


def resolve_spec(
    name: str,
    backbone: str,
    dataset: str | Sequence[str] | None = None,
    protocol: str | None = None,
    overrides: Sequence[str] = (),
) -> ExperimentSpec:
    """Experiment ``name`` on ``backbone`` as the sweep declares it with ``overrides`` (``shots=[1]``,
    ``test_limit=8``, ``rows.rns.options.k=16``, ``proposer=felzenszwalb``: the sweep's own command line).
    ``dataset``: the declared datasets (``voc,ade``; default: the experiment's sweep); one dataset is
    compared with its own published values (Table 3: voc or ade). ``protocol``: read another results
    folder (``full_region-sam2``: the region-mode records of an experiment whose file says patch)."""
    spec = load_experiment(name)
    named = [d.strip() for d in (dataset.split(",") if isinstance(dataset, str) else dataset or []) if d.strip()]
    declared = Declarations(
        name, backbone, with_overrides(overrides, protocol_overrides(protocol) if protocol else []), named
    )
    folder = declared.folder(with_fractions=not spec.columns.endswith("fraction"))
    resolved = replace(
        spec, shots=declared.shots, protocol=folder, declared=declared, datasets=tuple(declared.datasets())
    )
    if folder != spec.protocol:
        resolved = replace(resolved, name=f"{resolved.name}-{folder}")
    if len(named) == 1:
        resolved = replace(resolved, reference_dataset=named[0], average_over=named, name=f"{resolved.name}-{named[0]}")
    return resolved


def require_results_dir(results_dir: Path) -> None:
    """A report reads records: ``results_dir`` must be the folder a sweep wrote (a typo creates nothing)."""
    path = Path(results_dir)
    if not path.is_dir():
        what = "is a file" if path.exists() else "does not exist"
        raise ConfigError(
            f"results_dir={results_dir} {what}: nothing to report (nothing was created); give the "
            "folder the sweep wrote its records to (results_dir= of make experiment / make bench)"
        )


def record_folders(results_dir: Path, rows: Collection[str]) -> set[tuple[str, str]]:
    """(backbone, protocol) folders under ``results_dir`` holding records of ``rows``."""
    return {
        (path.parent.parent.parent.name, path.parent.parent.name)
        for path in Path(results_dir).glob("*/*/*/*/B*_seed*-*.json")
        if path.parent.name in rows
    }


def experiment_rows(name: str) -> set[str]:
    """The method rows whose records experiment ``name`` reads (``row@B`` → row; RNS (Full) → rns)."""
    names = (row.partition("@")[0] for row in load_experiment(name).rows)
    return {"rns" if row == FULL_REFERENCE else row for row in names}


def experiment_backbones(name: str, results_dir: Path) -> list[str]:
    """The backbones under ``results_dir`` holding records of experiment ``name``'s rows (any protocol):
    ``make experiment`` without ``BACKBONE=`` reports what the sweep ran (a real dataset's own backbone)."""
    if load_experiment(name).kind == PERSONALIZED:
        return personalized_backbones(Path(results_dir))
    return sorted({backbone for backbone, _ in record_folders(results_dir, experiment_rows(name))})


def build_report(
    name: str,
    results_dir: Path,
    backbone: str,
    out_dir: Path | None = None,
    dataset: str | Sequence[str] | None = None,
    protocol: str | None = None,
    overrides: Sequence[str] = (),
) -> str:
    """Write report.md / .csv / .tex / .png (+ per_class.png, qualitative.png) of experiment ``name`` and
    return the markdown (``dataset`` / ``protocol`` / ``overrides``: :func:`resolve_spec`)."""
    require_results_dir(Path(results_dir))
    loaded = load_experiment(name)
    if loaded.kind == PERSONALIZED:  # Fig. 7: before / after figures of one study, no sweep table
        return build_personalized_report(
            name,
            loaded.title,
            loaded.rows,
            Path(results_dir),
            backbone,
            Path(out_dir or Path(results_dir) / "reports" / loaded.name / backbone),
            overrides,
        )
    spec = with_found_datasets(resolve_spec(name, backbone, dataset, protocol, overrides), Path(results_dir), backbone)
    table, cells, notes, left_out = report_table(spec, Path(results_dir), backbone)
    out_dir = Path(out_dir or Path(results_dir) / "reports" / spec.name / backbone)
    text = _markdown(spec, backbone, table, cells, notes)
    if spec.plot == "runtime":
        text += _runtime_section(spec, table, cells)
    out_dir.mkdir(parents=True, exist_ok=True)
    text += _figures(spec, cells, out_dir)
    text += "\n".join(left_out.markdown()) + ("\n" if left_out.total else "")
    write_text_atomic(out_dir / "report.md", text)
    _write_csv(out_dir / "report.csv", table)
    write_text_atomic(out_dir / "report.tex", _latex(spec, table))
    if spec.plot == "runtime":
        _plot_runtime(out_dir / "report.png", spec, table, cells)
    else:
        _plot(out_dir / "report.png", spec, table)
    return text


def report_table(spec: ExperimentSpec, results_dir: Path, backbone: str) -> tuple[list[dict], dict, list[str], LeftOut]:
    """The report's rows (one per row × column × subset: ours, paper, Δ, counts), its cells, notes and the
    records left out."""
    cells, left_out = collect_cells(spec, Path(results_dir), backbone)
    paper = _published_lookup(spec, backbone)
    table, notes = [], []
    for row, label in spec.rows.items():
        for column in spec.column_values():
            for subset in spec.subsets:
                if column == "Avg.":
                    per = {
                        d: c.per_dataset[d]
                        for (r, col, s), c in cells.items()
                        if r == row and s == subset
                        for d in c.per_dataset
                    }
                    cell = Cell(per, sum(c.runs for (r, _, s), c in cells.items() if r == row and s == subset))
                else:
                    cell = cells.get((row, column, subset))
                scope = spec.average_over if spec.columns != "dataset" or column == "Avg." else [column]
                have = sorted(cell.per_dataset) if cell else []
                complete = not scope or set(scope) <= set(have)
                ours = (cell.mean_over(scope) if complete and scope else cell.mean_over(have)) if cell else None
                published = paper(row, column, subset)
                table.append(
                    {
                        "row": row,
                        "label": label,
                        "column": column,
                        "subset": subset,
                        "ours": ours,
                        "paper": published,
                        "diff": ours - published if complete and ours is not None and published is not None else None,
                        "datasets": f"{len(set(have) & set(scope)) if scope else len(have)}/{len(scope) or len(have)}",
                        "runs": cell.runs if cell else 0,
                        "test_images": cell.test_images if cell else 0,
                    }
                )
                where = f"{label} · {_column_name(spec, column)}{f' · {subset}' if len(spec.subsets) > 1 else ''}"
                if cell is None or not have:
                    notes.append(f"missing: {where} has no records of the declared config")
                elif not complete:
                    notes.append(
                        f"{where}: mean over {', '.join(have)} only (missing "
                        f"{', '.join(sorted(set(scope) - set(have)))}); not comparable with the paper"
                    )
                notes.extend(f"⚠ {where}: {n}" for n in (cell.notes if cell else []))
    if left_out.total:
        notes.append(
            f"left out: {left_out.total} record(s) of these rows that are not the declared configs "
            "(listed under Left out)"
        )
    return table, cells, notes, left_out


def _figures(spec: ExperimentSpec, cells: dict[tuple[str, Any, str], Cell], out_dir: Path) -> str:
    """Per-class IoU bars and qualitative panels of one shown cell, from the records the table used; the
    markdown lines that link them."""
    candidates: dict[tuple[Any, str], dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    for (row, column, subset), cell in cells.items():
        if subset == spec.subsets[0]:
            for dataset, records in cell.records.items():
                candidates[column, dataset][row] = records
    shown, (column, dataset, seed) = showcase_records(candidates, list(spec.rows))
    lines = ["", "## Figures", ""]
    title = f"{dataset} · {_column_name(spec, column)} · seed {seed}" if shown else ""
    if plot_per_class(out_dir / "per_class.png", shown, spec.rows, title):
        lines.append(f"* per_class.png: per-class IoU of one cell ({title}), every row")
    why = plot_qualitative(out_dir / "qualitative.png", shown, spec.rows) if shown else "no records"
    lines.append(
        "* qualitative.png: image, ground truth, each row's prediction"
        if why is None
        else f"* qualitative panels skipped: {why}"
    )
    return "\n".join(lines) + "\n"


def _column_name(spec: ExperimentSpec, column: Any) -> str:
    if spec.columns == "shots":
        return f"B = {column}"
    if spec.columns == "dataset":
        return str(column)
    return f"{'unseen' if spec.columns.startswith('visual') else 'no name'} {column:g}"


def _fmt(value: float | None, signed: bool = False) -> str:
    return "–" if value is None else (f"{value:+.2f}" if signed else f"{value:.2f}")


def _headers(spec: ExperimentSpec) -> list[tuple[Any, str]]:
    return [(c, s) for c in spec.column_values() for s in spec.subsets]


def _markdown(spec: ExperimentSpec, backbone: str, table: list[dict], cells: dict, notes: list[str]) -> str:
    headers = _headers(spec)
    names = [f"{_column_name(spec, c)}{f' {s}' if len(spec.subsets) > 1 else ''}" for c, s in headers]
    scope = ", ".join(spec.average_over) or "the datasets present"
    lines = [
        f"# {spec.title}",
        "",
        f"backbone {backbone} · mean over {scope}; mIoU (%); cells: ours / paper / Δ (datasets, runs, test images)",
        "",
        *([spec.declared.summary(), ""] if spec.declared else []),
        "| method | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    by_row = defaultdict(dict)
    for r in table:
        by_row[r["label"]][(r["column"], r["subset"])] = r
    for label, entries in by_row.items():
        cells_text = [
            f"{_fmt(e['ours'])} / {_fmt(e['paper'])} / {_fmt(e['diff'], True)} "
            f"({e['datasets']}, {e['runs']}, {e['test_images']})"
            for e in (entries[h] for h in headers)
        ]
        lines.append(f"| {label} | " + " | ".join(cells_text) + " |")
    datasets = sorted({d for cell in cells.values() for d in cell.per_dataset})
    if datasets and spec.columns != "dataset":
        lines += [
            "",
            "## Per dataset (mean over seeds)",
            "",
            "| method | column | " + " | ".join(datasets) + " |",
            "|---|---|" + "---|" * len(datasets),
        ]
        for row, label in spec.rows.items():
            for column, subset in headers:
                cell = cells.get((row, column, subset))
                if cell:
                    name = f"{_column_name(spec, column)}{f' {subset}' if len(spec.subsets) > 1 else ''}"
                    lines.append(
                        f"| {label} | {name} | " + " | ".join(_fmt(cell.per_dataset.get(d)) for d in datasets) + " |"
                    )
    if notes:
        lines += ["", *[f"* {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def _write_csv(path: Path, table: list[dict]) -> None:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(table[0]) if table else ["row"])
    writer.writeheader()
    writer.writerows(table)
    write_text_atomic(path, out.getvalue())


def _latex(spec: ExperimentSpec, table: list[dict]) -> str:
    headers = _headers(spec)
    by_row = defaultdict(dict)
    for r in table:
        by_row[r["label"]][(r["column"], r["subset"])] = r
    names = [f"{_column_name(spec, c)}{f' {s}' if len(spec.subsets) > 1 else ''}" for c, s in headers]
    lines = [
        r"\begin{tabular}{l" + "rr" * len(headers) + "}",
        r"\toprule",
        "Method & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{{n}}}" for n in names) + r" \\",
        " & " + " & ".join("ours & paper" for _ in headers) + r" \\",
        r"\midrule",
    ]
    for label, entries in by_row.items():
        values = " & ".join(f"{_fmt(entries[h]['ours'])} & {_fmt(entries[h]['paper'])}" for h in headers)
        latex_label = label.replace("α", r"$\alpha$")
        lines.append(f"{latex_label} & {values} " + r"\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines).replace("–", "--").replace("%", r"\%") + "\n"


def _plot(path: Path, spec: ExperimentSpec, table: list[dict]) -> None:
    """mIoU against the column (B or fraction; datasets as bars' positions), ours solid, the paper dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=120)
    draw_lines(ax, spec, table, spec.title)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def draw_lines(ax: Any, spec: ExperimentSpec, table: list[dict], title: str) -> None:
    """One panel: each row's mIoU against the column, ours solid, the paper's dashed."""
    columns = spec.column_values()
    position = {c: (i if spec.columns == "dataset" else c) for i, c in enumerate(columns)}
    for index, (row, label) in enumerate(spec.rows.items()):
        for subset, style in zip(spec.subsets, ("-", ":", "-."), strict=False):
            mine = [
                (position[r["column"]], r["ours"])
                for r in table
                if r["row"] == row and r["subset"] == subset and r["ours"] is not None
            ]
            paper = [
                (position[r["column"]], r["paper"])
                for r in table
                if r["row"] == row and r["subset"] == subset and r["paper"] is not None
            ]
            tag = f"{label}{f' {subset}' if len(spec.subsets) > 1 else ''}"
            if mine:
                ax.plot(*zip(*mine, strict=True), marker="o", linestyle=style, color=f"C{index}", label=f"{tag} (ours)")
            if paper:
                ax.plot(
                    *zip(*paper, strict=True),
                    marker="x",
                    linestyle="--",
                    color=f"C{index}",
                    alpha=0.6,
                    label=f"{tag} (paper)",
                )
    if spec.columns == "dataset":
        ax.set_xticks(range(len(columns)), [str(c) for c in columns], rotation=30)
    ax.set_xlabel(
        {
            "shots": "support images per class (B)",
            "dataset": "dataset",
            "visual_drop_fraction": "fraction of classes without images",
            "text_drop_fraction": "fraction of classes without names",
        }[spec.columns]
    )
    ax.set_ylabel("mIoU (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # an empty panel (no records, no published values) has no legend
        ax.legend(fontsize=6)


@dataclass(frozen=True)
class RuntimePoint:
    """One row of Fig. 13: seconds per test image (the method's own, and extraction + proposals)."""

    label: str
    method: float
    pipeline: dict[str, float]
    miou: float

    @property
    def total(self) -> float:
        return self.method + sum(self.pipeline.values())


def _runtime_points(spec: ExperimentSpec, table: list[dict], cells: dict) -> list[RuntimePoint]:
    """A point per row at the experiment's first column: inference seconds per image = the method's
    own seconds + test feature extraction + region proposals, averaged over the row's datasets."""
    points = []
    for row, label in spec.rows.items():
        entry = next((r for r in table if r["row"] == row and r["ours"] is not None), None)
        row_cells = [cell for (r, _, _), cell in cells.items() if r == row]
        seconds = [s for cell in row_cells for s in cell.method_seconds]
        per_dataset = [parts for cell in row_cells for parts in cell.pipeline_seconds.values()]
        pipeline = {
            part: statistics.fmean(values)
            for part in PIPELINE_PARTS
            if (values := [parts[part] for parts in per_dataset if part in parts])
        }
        if entry and seconds:
            points.append(RuntimePoint(label, statistics.fmean(seconds), pipeline, entry["ours"]))
    return points


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _runtime_section(spec: ExperimentSpec, table: list[dict], cells: dict) -> str:
    points = _runtime_points(spec, table, cells)
    lines = [
        "",
        "## mIoU vs inference seconds per image",
        "",
        "Inference = test feature extraction + region proposals (both shared by every row of a backbone; "
        "measured by the run that computed them, – when every run read them from the cache) + the "
        "method's own seconds. Support features and support building are per support set, not per test "
        "image, and are left out, as in the paper's Fig. 13.",
        "",
        "| method | extraction s | proposals s | method s | inference s / image | mIoU |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {p.label} | {_seconds(p.pipeline.get('extraction_test'))} | {_seconds(p.pipeline.get('proposals'))} "
        f"| {p.method:.4f} | {p.total:.4f} | {p.miou:.2f} |"
        for p in points
    ]
    return "\n".join(lines) + "\n"


def _plot_runtime(path: Path, spec: ExperimentSpec, table: list[dict], cells: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for index, point in enumerate(_runtime_points(spec, table, cells)):
        ax.scatter([point.total], [point.miou], color=f"C{index}", label=point.label)
    ax.set_xscale("log")
    ax.set_xlabel("inference seconds per image (extraction + proposals + method; log)")
    ax.set_ylabel("mIoU (%)")
    ax.set_title(spec.title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
