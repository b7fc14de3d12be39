"""Every figure of every experiment (configs/experiment/*.yaml), drawn from a few hand-written records
of its declared config, fits a paper (tests/report/figure_checks.py); so do a sweep's leaderboards, the
qualitative panels, Fig. 7's study figure. Records: two seeds per cell, one row's seeds spread around
0 % and another's around 100 %, so an unclipped band would leave [0, 100]."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from report.declared_records import write_record
from report.figure_checks import check_fit, data_lines, legend_labels, legends

from rns_bench.core.paths import CONFIG_DIR
from rns_bench.report.build import experiment_panels
from rns_bench.report.cells import report_table
from rns_bench.report.class_figures import per_class_figure, qualitative_figure, shown_cell
from rns_bench.report.declared import protocol_overrides
from rns_bench.report.figures import experiment_figure, leaderboard_figure, panels_figure
from rns_bench.report.personalized import Shown, personalized_figure
from rns_bench.report.spec import (
    OUT_OF_DOMAIN,
    ExperimentSpec,
    load_experiment,
    protocol_of,
    resolve_spec,
    row_and_shots,
    source_row,
)
from rns_bench.report.style import pyplot
from rns_bench.runs.records import RunRecord

BACKBONE = "clip_b16"
SEEDS = (100, 18)  # declared (published) on every dataset
SWEEPS = sorted(
    p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml") if load_experiment(p.stem).kind != "personalized"
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    pyplot().close("all")


def _datasets(spec: ExperimentSpec) -> list[str]:
    """One dataset (Table 4: two of its columns, Fig. 9: one with out-of-domain support)."""
    if spec.out_of_domain:
        return [next(iter(spec.out_of_domain))]
    return spec.average_over[: 2 if spec.columns == "dataset" else 1]


def _miou(row_index: int, rows: int, column_index: int, seed_index: int) -> float:
    if row_index == 0:
        return (1.0, 25.0)[seed_index] + column_index  # mean − std < 0
    if row_index == rows - 1:
        return (75.0, 99.5)[seed_index] - column_index / 10  # mean + std > 100
    return 30.0 + 5 * row_index + 2 * column_index + 3 * seed_index


def _metrics(value: float) -> dict:
    per_class = {f"class{c}": None if c == 3 else (0.0 if c == 2 else (value + 4 * c) % 100) for c in range(21)}
    return {
        "mIoU": value,
        "mIoU_supported": min(100.0, value + 5),
        "mIoU_unsupported": max(0.0, value - 5),
        "per_class_IoU": per_class,
    }


def _write_records(
    results, name: str, spec: ExperimentSpec, datasets: list[str], *, backbone=BACKBONE, overrides=(), rows=()
):
    """Two seeds of every (row, column, dataset) the report reads (of ``rows``: all), with seconds for Fig. 13."""
    written = set()
    for index, row in enumerate(spec.rows):
        if rows and row not in rows:
            continue
        method, fixed = row_and_shots(row, spec)
        for column_index, column in enumerate(c for c in spec.column_values() if c != "Avg."):
            for dataset in [column] if spec.columns == "dataset" else datasets:
                if dataset not in datasets:
                    continue
                folder = protocol_of(spec, column, method)
                if row.endswith(OUT_OF_DOMAIN):
                    folder = f"{folder}_support-{spec.out_of_domain[dataset]}"
                shots = column if spec.columns == "shots" else fixed
                for seed_index, seed in enumerate(SEEDS):
                    key = (dataset, folder, source_row(method), shots, seed)
                    if key in written:
                        continue
                    written.add(key)
                    value = _miou(index, len(spec.rows), column_index, seed_index)
                    path = write_record(
                        results, name, dataset, source_row(method), shots, seed, None, folder=folder,
                        backbone=backbone, overrides=overrides, metrics=_metrics(value),
                    )  # fmt: skip
                    record = json.loads(path.read_text())
                    record["seconds_per_image"] = {"method": 0.01 * (index + 1), "extraction_test": 0.05}
                    path.write_text(json.dumps(record))


@pytest.mark.parametrize("name", SWEEPS)
def test_every_figure_of_every_experiment_fits_a_paper(name, tmp_path):
    base = load_experiment(name)
    datasets = _datasets(base)
    spec = resolve_spec(name, BACKBONE, datasets)
    _write_records(tmp_path, name, spec, datasets)
    table, cells, _, _ = report_table(spec, tmp_path, BACKBONE)
    figure = experiment_figure(spec, table, cells)
    check_fit(figure)
    lines = [line for ax in figure.axes for line in data_lines(ax)]
    assert len({line.get_label() for line in lines if "(ours)" in line.get_label() or spec.plot == "runtime"}) == len(
        spec.rows
    )  # every row drawn
    assert len(legend_labels(figure)) <= len(spec.rows) + len(spec.bounds) + 2  # a row each, ours / published
    if spec.plot != "runtime":
        assert len(figure.axes) == len(spec.subsets)  # Table 3: a panel per subset, one legend for all
    shown, title = shown_cell(spec, cells)
    per_class = per_class_figure(shown, spec.rows, title)
    check_fit(per_class)
    ticks = {t.get_text() for ax in per_class.axes for t in ax.get_yticklabels()}
    assert {"class2", "class3"} <= ticks  # a 0-IoU class and an absent one are shown, not skipped
    assert any("not in the test images" in label for label in legend_labels(per_class))


def test_fig3_panels_are_a_grid_not_a_strip(tmp_path):
    sources = [(b, p) for b in ("clip_b16", "dinov3_txt") for p in ("full", "full_region-sam2")]
    for backbone, protocol in sources:
        spec = resolve_spec("fig3_shots", backbone, "voc", protocol=protocol)
        overrides = protocol_overrides(protocol)
        _write_records(tmp_path, "fig3_shots", spec, ["voc"], backbone=backbone, overrides=overrides, rows=("rns",))
    panels = experiment_panels("fig3_shots", tmp_path, dataset="voc")
    assert len(panels) == 4
    figure = panels_figure("Fig. 3", panels)
    check_fit(figure)
    assert len(legends(figure)) == 1 and figure.get_figwidth() / figure.get_figheight() < 2.5


def _leaderboard_records(shots: tuple[int, ...]) -> list[RunRecord]:
    rows = [
        "linear_patches", "rns_wo_text", "finetune_rns", "finetune", "rns", "knn_clip_wo_text",
        "freeda_wo_text", "freeda", "knn_clip", "linear_class_features", "zero_shot",
    ]  # fmt: skip
    return [
        RunRecord.from_json(
            {
                "row": row,
                "shots": b,
                "seed": seed,
                "metrics": {"mIoU": _miou(i, len(rows), j, k)},
                "num_test_images": 80,
            }
        )
        for i, row in enumerate(rows)
        for j, b in enumerate(shots)
        for k, seed in enumerate(SEEDS)
    ]


def test_a_leaderboard_tells_its_eleven_rows_apart_with_bands_in_range():
    figure = leaderboard_figure(_leaderboard_records((1, 2, 5)), "toy · toy_vlm · full")
    check_fit(figure)
    assert len(data_lines(figure.axes[0])) == 11


def test_a_leaderboard_of_no_records_is_still_drawn():
    check_fit(leaderboard_figure([], "toy · toy_vlm · full"))


def test_a_single_b_leaderboard_is_a_point_per_row_on_an_mIoU_axis():
    figure = leaderboard_figure(_leaderboard_records((3,)), "toy · toy_vlm · nv0.5_nt0")
    check_fit(figure)
    ax = figure.axes[0]
    assert len(data_lines(ax)) == 11 and "mIoU" in ax.get_xlabel()
    low, high = ax.get_xlim()
    assert high - low >= 10  # not a column of dots on a 0.3-wide axis
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "zero_shot"  # the best mean (87.25), on top


def test_qualitative_panels_name_every_class_they_colour():
    names = [f"class{c}" for c in range(21)]
    label = np.zeros((16, 16), np.uint8)
    label[4:8, 4:8], label[0, :] = 5, 255
    prediction = np.zeros((16, 16), np.uint8)
    prediction[8:, 8:] = 7
    image = np.full((16, 16, 3), 128, np.uint8)
    rows = {"rns": "RNS", "knn_clip": "kNN-CLIP", "freeda": "FREEDA"}
    figure = qualitative_figure(
        [("img0", image, label), ("img1", image, label)], {row: [prediction, prediction] for row in rows}, rows, names
    )
    check_fit(figure)
    assert legend_labels(figure) == ["class0", "class5", "class7", "ignored (255)"]


def test_fig7s_figure_names_its_colours(tmp_path):
    for i in range(2):
        Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(tmp_path / f"image_{i}.png")
        for part in ("truth", "before", "after"):
            Image.fromarray(np.array([[0, 1], [2, 255]], np.uint8)).save(tmp_path / f"{part}_{i}.png")
    record = {"class_names": ["cat", "dog", "my dog"], "generic_class": "dog", "personal_class": "my dog", "shown": 2}
    rows = {"rns": "RNS", "knn_clip": "kNN-CLIP"}
    record = RunRecord.from_json({"row": "rns", "metrics": {}, **record})
    figure = personalized_figure({row: Shown(record, tmp_path) for row in rows}, rows)
    check_fit(figure)
    assert legend_labels(figure) == ["my dog (the instance)", "dog (generic)", "every other class", "ignored (255)"]


def test_the_checks_refuse_what_the_reports_drew_before():
    """The old leaderboard: 11 rows on the 10-colour cycle, a legend over the data, a band below 0 %."""
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(6, 4))
    for index in range(11):
        ax.plot([1, 5], [10 + index, 20 + index], marker="o", label=f"row {index}")
    ax.fill_between([1, 5], [-5, -5], [30, 30], alpha=0.15)
    ax.set_ylabel("mIoU (%)")
    ax.legend(fontsize=6)
    with pytest.raises(AssertionError):
        check_fit(figure)
    for broken in ("nothing", "font", "colours", "band", "legend"):  # each fault alone is caught
        figure, ax = plt.subplots(figsize=(3.4, 3), layout="constrained")
        for index in range(2 if broken == "colours" else 1):
            ax.plot([1, 5], [10, 20 + index], marker="o", color="C0", label=f"row {index}")
        ax.fill_between([1, 5], [-5 if broken == "band" else 5] * 2, [30, 30])
        ax.set_ylabel("mIoU (%)", fontsize=6 if broken == "font" else 8)
        ax.tick_params(labelsize=8)
        ax.set_ylim(0, 40)
        if broken == "legend":
            ax.legend(fontsize=8)
        if broken == "nothing":
            check_fit(figure)
            continue
        with pytest.raises(AssertionError):
            check_fit(figure)
