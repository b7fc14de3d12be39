"""What an experiment (``configs/experiment/<name>.yaml``) reports: its rows, columns and class subsets.

A report is rows × columns. Columns are B (``shots``), a fraction of classes without images or
names (``visual_drop_fraction`` / ``text_drop_fraction``, optionally split into the S / U / A class
subsets of Table 3) or datasets (``dataset``, with the Avg. over ``average_over``). A row is a method
row, ``row@B`` to fix its B (Table 4's "RNS B = 1"), ``rns_full_reference``: RNS with full support
scored on the same seen / unseen class sets as the partial runs (Table 3), or ``row~ood``: the row with
support drawn from another dataset (Fig. 9; ``out_of_domain`` maps each test dataset to it, records
under ``<protocol>_support-<key>``). ``bounds`` are rows of published numbers alone, never run (Table 4's
fully supervised methods). :func:`resolve_spec` adds the config the sweep declares for each cell
(``rns_bench.report.declared``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from rns_bench.core.errors import ConfigError
from rns_bench.core.paths import CONFIG_DIR
from rns_bench.core.row_names import FULL_REFERENCE, OUT_OF_DOMAIN, method_row_of
from rns_bench.report.declared import Declarations, protocol_overrides, with_overrides
from rns_bench.runs.config import protocol_tag

DECLARATION_TAG = 6  # hex digits of the overrides' hash in a report folder's name


@dataclass(frozen=True)
class Subset:
    """A class subset of Table 3: the record metric that scores it ("" for H, computed from S and U), and
    what it covers."""

    metric: str
    description: str


# Partial visual support (paper Table 3): mIoU over all (A), supported (S), unsupported (U) classes, and
# the harmonic mean H of S and U (not in the paper's table: high only when both are).
SUBSETS = {
    "A": Subset("mIoU", "all classes (A)"),
    "S": Subset("mIoU_supported", "classes with visual support (S)"),
    "U": Subset("mIoU_unsupported", "classes without visual support (U)"),
    "H": Subset("", "harmonic mean of S and U (H)"),
}
COLUMN_KINDS = ("shots", "visual_drop_fraction", "text_drop_fraction", "dataset")


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
    # report rows whose config the command line changes (rows.rns.options.k=32): labelled with the override,
    # never compared with the paper's number for the row's published setting
    overridden: dict[str, list[str]] = field(default_factory=dict)
    # rows of the paper's numbers alone (Table 4's fully supervised bound): published row → label
    bounds: dict[str, str] = field(default_factory=dict)

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
    if set(subsets) - set(SUBSETS):
        raise ConfigError(f"{path}: experiment.subsets={subsets}; use S, U, A and / or H")
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
        bounds={str(k): str(v) for k, v in (spec.get("bounds") or {}).items()},
    )


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
    if overrides:  # another declaration is another report: never written over the plain one
        digest = hashlib.sha256(" ".join(sorted(overrides)).encode()).hexdigest()[:DECLARATION_TAG]
        resolved = replace(resolved, name=f"{resolved.name}-{digest}")
    return with_row_overrides(resolved, overrides)


def with_row_overrides(spec: ExperimentSpec, overrides: Sequence[str]) -> ExperimentSpec:
    """``spec`` with each report row whose method row an override changes (``rows.rns.options.k=32``)
    labelled by that override (``RNS (K = 4) [rows.rns.options.k=32]``) and listed in ``overridden``."""
    by_row: dict[str, list[str]] = {}
    for override in overrides:
        key = override.partition("=")[0].lstrip("+~")
        if key.startswith("rows."):
            by_row.setdefault(key.split(".")[1], []).append(override)
    changed = {row: by_row[method_row_of(row)] for row in spec.rows if method_row_of(row) in by_row}
    if not changed:
        return spec
    rows = {row: f"{label} [{' '.join(changed[row])}]" if row in changed else label for row, label in spec.rows.items()}
    return replace(spec, rows=rows, overridden=changed)


def row_and_shots(row: str, spec: ExperimentSpec) -> tuple[str, int | None]:
    """(method row, its fixed B or None) of a report row (``rns@1``, ``rns~ood``, ``rns_full_reference``)."""
    name, _, shots = row.removesuffix(OUT_OF_DOMAIN).partition("@")
    if shots:
        return name, int(shots)
    return name, (spec.shots[0] if spec.columns != "shots" and spec.shots else None)


def source_row(name: str) -> str:
    """The method row whose records a report row reads (RNS (Full) reads rns's)."""
    return method_row_of(name)


def protocol_of(spec: ExperimentSpec, column: Any, row: str) -> str:
    """The results folder of ``row``'s records in ``column``."""
    # A region-mode experiment (protocol full_region-sam2, Fig. 11) reads its fraction columns from
    # the region folders too (nv0.5_nt0_region-sam2).
    proposer = spec.protocol.partition("_region-")[2]
    mode = ("region", proposer) if proposer else ("patch", None)
    if spec.columns == "visual_drop_fraction" and row != FULL_REFERENCE:
        return protocol_tag(column, 0.0, *mode)
    if spec.columns == "text_drop_fraction":
        return protocol_tag(0.0, column, *mode)
    return spec.protocol


def column_name(spec: ExperimentSpec, column: Any) -> str:
    if spec.columns == "shots":
        return f"B = {column}"
    if spec.columns == "dataset":
        return str(column)
    return f"{'unseen' if spec.columns.startswith('visual') else 'no name'} {column:g}"


def subset_suffix(spec: ExperimentSpec, subset: str) -> str:
    """`` S`` after a column or row name when the experiment shows several subsets, else nothing."""
    return f" {subset}" if len(spec.subsets) > 1 else ""


def datasets_with_records(spec: ExperimentSpec, results_dir: Path, backbone: str) -> list[str]:
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
        for d in datasets_with_records(spec, results_dir, backbone)
        if d not in spec.average_over and (Path(results_dir) / d / backbone / spec.protocol).is_dir()
    )
    return replace(spec, extra_datasets=extra)


def experiment_rows(name: str) -> set[str]:
    """The method rows whose records experiment ``name`` reads (``row@B`` → row; RNS (Full) → rns)."""
    return {source_row(row.partition("@")[0]) for row in load_experiment(name).rows}
