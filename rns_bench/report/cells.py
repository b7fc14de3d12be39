"""The numbers of a report: cells of records, the mean over support seeds and over datasets.

Each cell of an experiment is the mean over support seeds per dataset, then the mean over the
``average_over`` datasets as the paper averages, with its std and 95 % interval over seeds
(:mod:`rns_bench.report.intervals`), next to the published value (``rns_bench/report/paper/published.csv``,
its source: :mod:`rns_bench.report.sources`) and the difference. A cell reads only records of the config
the experiment declares, with the sweep's overrides (``rns_bench.report.declared``: row options,
protocol, B, seeds, the full test split unless ``test_limit`` is declared), on the datasets it declares;
the report lists what it left out and why (``rns_bench.report.selection``). A cell without such records
is shown missing, never filled from another config. A cell whose declared datasets are not all there
says how many it has and shows no difference. A sweep's leaderboard averages its seeds with the same
:func:`mean_std`.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rns_bench.report.intervals import spread_over_datasets
from rns_bench.report.published import PublishedValue, published_values
from rns_bench.report.selection import LeftOut, RecordPool, newest_config
from rns_bench.report.sources import HARMONIC, harmonic_mean, source_text, with_harmonic
from rns_bench.report.spec import (
    FULL_REFERENCE,
    OUT_OF_DOMAIN,
    SUBSETS,
    ExperimentSpec,
    column_name,
    datasets_with_records,
    protocol_of,
    row_and_shots,
    source_row,
)
from rns_bench.runs.records import RunRecord
from rns_bench.support.partial import dropped_classes

PIPELINE_PARTS = ("extraction_test", "proposals")  # what every method on one backbone pays per test image
CellKey = tuple[str, Any, str]  # (report row, column value, subset)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value) of per-seed numbers: how every report
    (an experiment's cells, a sweep's leaderboard) averages over support seeds."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def seed_values(records: list[RunRecord], metric: str = "mIoU") -> dict[str, dict[int, list[float]]]:
    """row → shots → ``metric`` over seeds (records missing the metric are skipped): a leaderboard's cells."""
    table: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        value = record.metric(metric)
        if value is not None:
            table[record.row][record.shots].append(float(value))
    return table


@dataclass
class Cell:
    """One (row, column, subset): per-dataset seed means, and what the reader should know about them."""

    per_dataset: dict[str, float] = field(default_factory=dict)
    seed_values: dict[str, list[float]] = field(default_factory=dict)  # dataset → one value per seed
    runs: int = 0
    test_images: int = 0
    notes: list[str] = field(default_factory=list)
    method_seconds: list[float] = field(default_factory=list)  # per image, one per record that measured it
    pipeline_seconds: dict[str, dict[str, float]] = field(default_factory=dict)  # dataset → part → s / image
    records: dict[str, list[RunRecord]] = field(default_factory=dict)  # dataset → the records used
    sources: dict[str, str] = field(default_factory=dict)  # dataset → the results folder they are from

    def mean_over(self, datasets: list[str]) -> float | None:
        values = [self.per_dataset[d] for d in datasets if d in self.per_dataset]
        return statistics.fmean(values) if values else None


def _subset_value(record: RunRecord, subset: str, row: str, fraction: float | None) -> float | None:
    if subset == HARMONIC:  # per run, so that its seeds give H's spread
        return harmonic_mean(*(_subset_value(record, part, row, fraction) for part in ("S", "U")))
    if row == FULL_REFERENCE and fraction is not None:  # full support, scored on the partial run's class sets
        ious = list(record.metrics["per_class_IoU"].values())
        unseen = set(dropped_classes(len(ious), fraction, int(record.seed)))
        chosen = [
            v for c, v in enumerate(ious) if v is not None and (subset == "A" or (c in unseen) == (subset == "U"))
        ]
        return statistics.fmean(chosen) if chosen else None
    value = record.metric(SUBSETS[subset].metric)
    return float(value) if value is not None else None


def pipeline_seconds(records: list[RunRecord]) -> dict[str, float]:
    """Part → mean seconds per test image of the method-independent parts (test feature extraction,
    region proposals) over the records that measured them. Only the run that extracted an image
    measures it (later runs read the cache), so the figure is shared by every row of one folder."""
    parts = {}
    for part in PIPELINE_PARTS:
        values = [float(v) for r in records if (v := r.seconds_for(part)) is not None]
        if values:
            parts[part] = statistics.fmean(values)
    return parts


def _sources(spec: ExperimentSpec, row: str, protocol: str, datasets: list[str]) -> dict[str, str]:
    """Dataset → the results folder of ``row``'s records there (another dataset's support for ``~ood``)."""
    if not row.endswith(OUT_OF_DOMAIN):
        return dict.fromkeys(datasets, protocol)
    return {d: f"{protocol}_support-{spec.out_of_domain[d]}" for d in datasets if d in spec.out_of_domain}


def collect_cells(spec: ExperimentSpec, results_dir: Path, backbone: str) -> tuple[dict[CellKey, Cell], LeftOut]:
    """(row, column value, subset) → its cell, from the records of the declared configs under
    ``results_dir``; and what was left out."""
    if spec.declared is None:
        raise ValueError(f"experiment {spec.name}: resolve_spec() gives the spec its declared configs")
    datasets = datasets_with_records(spec, Path(results_dir), backbone)
    pool = RecordPool(Path(results_dir), backbone, spec.declared)
    cells: dict[CellKey, Cell] = {}
    folders = set()  # every results folder the report reads, whichever dataset
    for row in spec.rows:
        name, fixed_shots = row_and_shots(row, spec)
        for column in spec.column_values():
            if column == "Avg.":
                continue
            protocol = protocol_of(spec, column, name)
            folders |= (
                {f"{protocol}_support-{s}" for s in spec.out_of_domain.values()}
                if row.endswith(OUT_OF_DOMAIN)
                else {protocol}
            )
            shots = column if spec.columns == "shots" else fixed_shots
            fraction = column if spec.columns.endswith("fraction") else None
            in_scope = ([column] if column in datasets else []) if spec.columns == "dataset" else datasets
            for dataset, source in _sources(spec, row, protocol, in_scope).items():
                records = [
                    r for r in pool.matched(dataset, source, source_row(name)) if shots is None or int(r.shots) == shots
                ]
                if records:
                    _fill(cells, spec, (row, column), dataset, source, records, pool, fraction)
    for cell in cells.values():  # extraction and proposals: measured by whichever declared run computed them
        cell.pipeline_seconds = {d: pipeline_seconds(pool.matched_in(d, source)) for d, source in cell.sources.items()}
    rows = {source_row(row_and_shots(r, spec)[0]) for r in spec.rows}
    return cells, pool.finish(spec.datasets, rows, folders)


def _fill(
    cells: dict[CellKey, Cell],
    spec: ExperimentSpec,
    where: tuple[str, Any],
    dataset: str,
    source: str,
    records: list[RunRecord],
    pool: RecordPool,
    fraction: float | None,
) -> None:
    """Put ``dataset``'s records (all of the declared config) into the cells of (row, column) ``where``."""
    row, column = where
    chosen, note = newest_config(records)
    pool.use(chosen)
    for subset in spec.subsets:
        values = [
            v for r in chosen if (v := _subset_value(r, subset, row_and_shots(row, spec)[0], fraction)) is not None
        ]
        if not values:
            continue
        cell = cells.setdefault((row, column, subset), Cell())
        cell.per_dataset[dataset] = mean_std(values)[0]
        cell.seed_values[dataset] = values
        cell.runs += len(values)
        cell.test_images += int(chosen[0].num_test_images or 0)
        cell.method_seconds += [float(s) for r in chosen if (s := r.seconds_for("method")) is not None]
        cell.records[dataset], cell.sources[dataset] = chosen, source
        cell.notes += [f"{dataset}: {n}" for n in (note, _missing_seeds(pool, dataset, source, row, spec, chosen)) if n]


def _missing_seeds(
    pool: RecordPool, dataset: str, source: str, row: str, spec: ExperimentSpec, chosen: list[RunRecord]
) -> str | None:
    """A note when a cell averages fewer seeds than the sweep declares (a half-finished sweep)."""
    declared = pool.declared.cell(dataset, source, source_row(row_and_shots(row, spec)[0])).seeds
    have = {int(r.seed) for r in chosen}
    missing = [str(s) for s in declared if s not in have]
    if not missing:
        return None
    return f"{len(have)} of {len(declared)} declared seeds (missing {', '.join(missing)}): the mean is of fewer seeds"


def _published_matches(spec: ExperimentSpec, backbone: str, value: PublishedValue, where: CellKey) -> bool:
    """Whether the paper's ``value`` is the one of cell ``where`` (report row, column value, subset)."""
    row, column, subset = where
    name, fixed_shots = row_and_shots(row, spec)
    if value.method_row != name or value.subset != subset or not value.resolved:
        return False
    if value.backbone not in ("unstated", backbone):
        return False
    if spec.columns == "shots":
        return value.shots == column and value.dataset == spec.reference_dataset
    if spec.columns == "dataset":
        wanted = spec.reference_dataset if column == "Avg." else column
        return value.dataset == wanted and (fixed_shots is None or value.shots in (None, fixed_shots))
    same_fraction = abs(value.unseen_fraction - column) <= 1e-9
    return same_fraction and (not spec.reference_dataset or value.dataset == spec.reference_dataset)


def published_lookup(spec: ExperimentSpec, backbone: str) -> Callable[[str, Any, str], PublishedValue | None]:
    """(report row, column value, subset) → the paper's value, or None where it publishes none (Table 3's
    H: derived from the paper's S and U, :func:`rns_bench.report.sources.with_harmonic`)."""
    values = [v for v in with_harmonic(published_values()) if v.table == spec.reference] if spec.reference else []

    def find(row: str, column: Any, subset: str) -> PublishedValue | None:
        return next((v for v in values if _published_matches(spec, backbone, v, (row, column, subset))), None)

    return find


def _average_cell(cells: dict[CellKey, Cell], row: str, subset: str) -> Cell:
    """The Avg. column of a per-dataset experiment: every dataset column of ``row`` in one cell."""
    mine = [c for (r, _, s), c in cells.items() if r == row and s == subset]
    return Cell(
        {d: c.per_dataset[d] for c in mine for d in c.per_dataset},
        {d: c.seed_values[d] for c in mine for d in c.seed_values},
        sum(c.runs for c in mine),
    )


def _entry(cell: Cell | None, scope: list[str], published: PublishedValue | None) -> dict[str, Any]:
    """The table's numbers of one cell over the datasets of ``scope``: ours with its spread over seeds
    (:mod:`rns_bench.report.intervals`), paper with its source, Δ and counts."""
    have = sorted(cell.per_dataset) if cell else []
    complete = not scope or set(scope) <= set(have)
    used = scope if complete and scope else have
    spread = spread_over_datasets({d: cell.seed_values.get(d, []) for d in used}) if cell else None
    ours = cell.mean_over(used) if cell else None
    paper = published.value if published else None
    return {
        "ours": ours,
        "std": spread.std if spread else None,
        "ci_low": spread.low if spread else None,
        "ci_high": spread.high if spread else None,
        "seeds": spread.seeds_text if spread else "",
        "paper": paper,
        "paper_source": source_text(published) if published else None,
        "diff": ours - paper if complete and ours is not None and paper is not None else None,
        "datasets": f"{len(set(have) & set(scope)) if scope else len(have)}/{len(scope) or len(have)}",
        "runs": cell.runs if cell else 0,
        "test_images": cell.test_images if cell else 0,
    }


def _notes(where: str, cell: Cell | None, scope: list[str]) -> list[str]:
    """What the reader should know about one cell (missing, partial, several matching configs)."""
    have = sorted(cell.per_dataset) if cell else []
    notes = []
    if cell is None or not have:
        notes.append(f"missing: {where} has no records of the declared config")
    elif scope and not set(scope) <= set(have):
        notes.append(
            f"{where}: mean over {', '.join(have)} only (missing "
            f"{', '.join(sorted(set(scope) - set(have)))}); not comparable with the paper"
        )
    return notes + [f"⚠ {where}: {n}" for n in (cell.notes if cell else [])]


def report_table(
    spec: ExperimentSpec, results_dir: Path, backbone: str
) -> tuple[list[dict], dict[CellKey, Cell], list[str], LeftOut]:
    """The report's rows (one per row × column × subset: ours, paper, Δ, counts), its cells, notes and the
    records left out."""
    cells, left_out = collect_cells(spec, Path(results_dir), backbone)
    paper = published_lookup(spec, backbone)
    table, notes = [], []
    for row, label in spec.rows.items():
        for column in spec.column_values():
            for subset in spec.subsets:
                cell = _average_cell(cells, row, subset) if column == "Avg." else cells.get((row, column, subset))
                scope = spec.average_over if spec.columns != "dataset" or column == "Avg." else [column]
                entry = _entry(cell, scope, None if row in spec.overridden else paper(row, column, subset))
                table.append({"row": row, "label": label, "column": column, "subset": subset, **entry})
                where = f"{label} · {column_name(spec, column)}{f' · {subset}' if len(spec.subsets) > 1 else ''}"
                notes += _notes(where, cell, scope)
    for row, label in spec.bounds.items():  # the paper's numbers alone: nothing to run, nothing missing
        for column in spec.column_values():
            for subset in spec.subsets:
                entry = _entry(None, [], paper(row, column, subset))
                table.append({"row": row, "label": label, "column": column, "subset": subset, **entry})
    notes += [
        f"{spec.rows[row]}: the command line changes this row's config; its numbers are not compared with the paper's"
        for row in spec.overridden
    ]
    if left_out.total:
        notes.append(
            f"left out: {left_out.total} record(s) of these rows that are not the declared configs "
            "(listed under Left out)"
        )
    return table, cells, notes, left_out


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


def runtime_points(spec: ExperimentSpec, table: list[dict], cells: dict[CellKey, Cell]) -> list[RuntimePoint]:
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
