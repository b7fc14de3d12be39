"""Build an experiment's report (``configs/experiment/<name>.yaml``) from records alone: report.md / .csv /
.tex / .png (+ per_class.png, qualitative.png), and Fig. 3's figure with a panel per backbone and
granularity. What is read: :mod:`rns_bench.report.spec` (the rows and columns the sweep declares),
:mod:`rns_bench.report.cells` (the records of each cell and their means); how it is shown:
:mod:`rns_bench.report.tables`, :mod:`rns_bench.report.figures`. Every output is written atomically: a
killed report leaves the old file or none, and a symlink planted at an output path is replaced, never
followed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from rns_bench.core.atomic_io import write_text_atomic
from rns_bench.core.errors import ConfigError
from rns_bench.report.cells import report_table
from rns_bench.report.class_figures import figure_section
from rns_bench.report.figures import Panel, plot_lines, plot_panels, plot_runtime
from rns_bench.report.personalized import build_personalized_report, personalized_backbones
from rns_bench.report.spec import experiment_rows, load_experiment, resolve_spec, subset_suffix, with_found_datasets
from rns_bench.report.tables import report_latex, report_markdown, runtime_section, write_report_csv
from rns_bench.runs.key import STUDY as PERSONALIZED


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
    return the markdown (``dataset`` / ``protocol`` / ``overrides``: :func:`rns_bench.report.spec.resolve_spec`)."""
    require_results_dir(Path(results_dir))
    loaded = load_experiment(name)
    if loaded.kind == PERSONALIZED:  # Fig. 7: before / after figures of one study, no sweep table
        out = Path(out_dir or Path(results_dir) / "reports" / loaded.name / backbone)
        return build_personalized_report(name, loaded.title, loaded.rows, Path(results_dir), backbone, out, overrides)
    spec = with_found_datasets(resolve_spec(name, backbone, dataset, protocol, overrides), Path(results_dir), backbone)
    table, cells, notes, left_out = report_table(spec, Path(results_dir), backbone)
    out_dir = Path(out_dir or Path(results_dir) / "reports" / spec.name / backbone)
    text = report_markdown(spec, backbone, table, cells, notes)
    if spec.plot == "runtime":
        text += runtime_section(spec, table, cells)
    out_dir.mkdir(parents=True, exist_ok=True)
    text += figure_section(spec, cells, out_dir)
    text += "\n".join(left_out.markdown()) + ("\n" if left_out.total else "")
    write_text_atomic(out_dir / "report.md", text)
    write_report_csv(out_dir / "report.csv", table)
    write_text_atomic(out_dir / "report.tex", report_latex(spec, table))
    if spec.plot == "runtime":
        plot_runtime(out_dir / "report.png", spec, table, cells)
    else:
        plot_lines(out_dir / "report.png", spec, table)
    return text


def panel_sources(results_dir: Path, rows: Collection[str]) -> list[tuple[str, str]]:
    """(backbone, protocol) pairs under ``results_dir`` holding records of ``rows`` under full support
    (``full``: patch queries; ``full_region-<proposer>``: regions)."""
    return sorted(
        (backbone, protocol)
        for backbone, protocol in record_folders(results_dir, rows)
        if protocol == "full" or protocol.startswith("full_region-")
    )


def experiment_panels(
    name: str, results_dir: Path, overrides: Sequence[str] = (), dataset: str | Sequence[str] | None = None
) -> list[Panel]:
    """A panel per (backbone, granularity) experiment ``name`` has records for (and per class subset), each
    of the declared configs only, as the report reads them."""
    base = load_experiment(name)
    panels: list[Panel] = []
    for backbone, protocol in panel_sources(results_dir, {row.partition("@")[0] for row in base.rows}):
        spec = with_found_datasets(
            resolve_spec(name, backbone, dataset, protocol=protocol, overrides=overrides), Path(results_dir), backbone
        )
        granularity = "patch" if protocol == "full" else protocol.removeprefix("full_region-") + " regions"
        table = report_table(spec, Path(results_dir), backbone)[0]
        panels += [(f"{backbone} · {granularity}{subset_suffix(spec, s)}", spec, table, s) for s in spec.subsets]
    return panels


def build_panels(
    name: str,
    results_dir: Path,
    out_path: Path | None = None,
    overrides: Sequence[str] = (),
    dataset: str | Sequence[str] | None = None,
) -> Path | None:
    """Draw a panel per (backbone, granularity) experiment ``name`` has records for — Fig. 3's layout:
    patch queries and each region proposer's results folder for every backbone, at most three side by
    side — into ``panels.png`` (next to its reports); None when no records are there. Each panel shows the
    declared configs only, as the report does; ``overrides`` / ``dataset``: the sweep's, as for the report
    (:func:`rns_bench.report.spec.resolve_spec`)."""
    require_results_dir(Path(results_dir))
    panels = experiment_panels(name, results_dir, overrides, dataset)
    if not panels:
        return None
    base = load_experiment(name)
    out_path = Path(out_path or Path(results_dir) / "reports" / base.name / "panels.png")
    plot_panels(out_path, base.title, panels)
    return out_path
