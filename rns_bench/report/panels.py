"""One figure with a panel per (backbone, granularity) an experiment has records for — Fig. 3's layout:
patch queries and each region proposer's results folder, side by side for every backbone. Each panel
shows the declared configs only, as the experiment's report does (``rns_bench.report.declared``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from rns_bench.report.experiment import (
    draw_lines,
    load_experiment,
    record_folders,
    report_table,
    require_results_dir,
    resolve_spec,
    with_found_datasets,
)
from rns_bench.report.figures import save_figure


def panel_sources(results_dir: Path, rows: Collection[str]) -> list[tuple[str, str]]:
    """(backbone, protocol) pairs under ``results_dir`` holding records of ``rows`` under full support
    (``full``: patch queries; ``full_region-<proposer>``: regions)."""
    return sorted(
        (backbone, protocol)
        for backbone, protocol in record_folders(results_dir, rows)
        if protocol == "full" or protocol.startswith("full_region-")
    )


def build_panels(
    name: str,
    results_dir: Path,
    out_path: Path | None = None,
    overrides: Sequence[str] = (),
    dataset: str | Sequence[str] | None = None,
) -> Path | None:
    """Draw every panel of experiment ``name`` into ``panels.png`` (next to its reports); None when no
    records are there. ``overrides`` / ``dataset``: the sweep's, as for the report
    (:func:`rns_bench.report.experiment.resolve_spec`)."""
    require_results_dir(Path(results_dir))
    base = load_experiment(name)
    sources = panel_sources(results_dir, {row.partition("@")[0] for row in base.rows})
    if not sources:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sources), figsize=(5.5 * len(sources), 4), dpi=120, squeeze=False)
    for ax, (backbone, protocol) in zip(axes[0], sources, strict=True):
        spec = with_found_datasets(
            resolve_spec(name, backbone, dataset, protocol=protocol, overrides=overrides), Path(results_dir), backbone
        )
        table = report_table(spec, Path(results_dir), backbone)[0]
        granularity = "patch" if protocol == "full" else protocol.removeprefix("full_region-") + " regions"
        draw_lines(ax, spec, table, f"{backbone} · {granularity}")
    fig.suptitle(base.title, fontsize=10)
    fig.tight_layout()
    out_path = Path(out_path or Path(results_dir) / "reports" / base.name / "panels.png")
    save_figure(fig, out_path)
    plt.close(fig)
    return out_path
