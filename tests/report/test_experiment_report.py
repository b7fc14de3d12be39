"""An experiment's report from records alone: the paper's mean over datasets next to the published
value with the difference; partial grids and configs that all match the declared one are said, not hidden."""

from __future__ import annotations

import json

import pytest
from bench_config import bench_config
from report.declared_records import write_record

from rns_bench.bench.sweep import run_sweep
from rns_bench.report.build import build_report
from rns_bench.report.published import published_values
from rns_bench.report.spec import load_experiment
from rns_bench.runs.records import read_records

SIX = ["voc", "context", "coco_object", "coco_stuff", "cityscapes", "ade"]


def test_the_mean_over_the_six_datasets_is_compared_with_table5(tmp_path):
    results = tmp_path / "results"
    for index, dataset in enumerate(SIX):
        for seed, offset in ((100, 0.0), (18, 2.0)):  # seed mean = 40 + index + 1
            write_record(results, "table5_k", dataset, "rns_k1", 1, seed, 40.0 + index + offset)
    text = build_report("table5_k", results, "clip_b16")
    ours = sum(41.0 + i for i in range(6)) / 6  # 43.50
    paper = next(
        v.value for v in published_values() if v.table == "table5" and v.method_row == "rns_k1" and v.shots == 1
    )
    # Each dataset: seeds 40 + i and 42 + i, std √2; over six datasets std √(6·2)/6 and standard error
    # √(6·2/2)/6 with Welch–Satterthwaite 6 degrees of freedom, t(0.975, 6) = 2.4469.
    std, half = (6 * 2) ** 0.5 / 6, 2.4469 * (6 * 2 / 2) ** 0.5 / 6
    cell = f"{ours:.2f} ± {std:.2f} [{ours - half:.2f}, {ours + half:.2f}] / {paper:.2f}¹ / {ours - paper:+.2f}"
    assert f"| RNS (K = 1) | {cell} (6/6, n=2, 12, 60) |" in text
    assert "¹ RNS paper Table 5: “RNS (K=1)”" in text and "Student-t interval" in text
    out = results / "reports" / "table5_k" / "clip_b16"
    assert {p.name for p in out.iterdir()} == {"report.md", "report.csv", "report.tex", "report.png"}
    assert (
        r"RNS (K = 1) & 43.50 $\pm$ 0.58 & [42.5, 44.5] & 40.02\textsuperscript{1}" in (out / "report.tex").read_text()
    )
    assert "Left out" not in text
    assert text == build_report("table5_k", results, "clip_b16")  # rebuilt from records alone: the same


def test_partial_grids_and_configs_that_all_match_are_flagged(tmp_path):
    results = tmp_path / "results"
    # Both of the declared config; the data was another copy when the second ran (no config declares that).
    write_record(results, "table5_k", "voc", "rns", 5, 100, 60.0, data_copy="a")
    write_record(results, "table5_k", "voc", "rns", 5, 18, 10.0, data_copy="b", created="2026-12-02T00:00:00Z")
    text = build_report("table5_k", results, "clip_b16")
    assert (
        "| RNS (K = 4) | – / 41.59² / – (0/6, n=0, 0, 0) | 10.00 / 47.87² / – (1/6, n=1, 1, 10) |" in text
    )  # newest config
    assert "RNS (K = 4) · B = 5: mean over voc only (missing ade, cityscapes, coco_object, coco_stuff, context)" in text
    assert (
        "⚠ RNS (K = 4) · B = 5: voc: records of 2 configs match the declared one, the newest is used (they "
        "differ in data.test_contents_sha256)"
    ) in text
    assert "| 1 | an older config that also matches the declared one (each cell uses the newest) | rns | voc |" in text


def test_experiment_files_name_their_rows_and_the_sweep_runs_them_on_toy(tmp_path, toy_data_root):
    spec = load_experiment("table5_k")
    assert list(spec.rows) == ["rns_k1", "rns", "rns_k16", "rns_k32"] and spec.shots == [1, 5, 10]
    overrides = ["shots=[1]", "seeds=[100]", "test_limit=2", "methods=[rns_k1,rns]", "rows.rns_k1.options.steps=20"]
    run_sweep(bench_config(tmp_path, toy_data_root, "experiment=table5_k", *overrides))
    text = build_report("table5_k", tmp_path / "results", "toy_vlm", dataset="toy", overrides=overrides)
    assert "(1/1, n=1, 1, 2)" in text and "| RNS (K = 1) [rows.rns_k1.options.steps=20] | B = 1 |" in text
    # toy is not one of the experiment's datasets: without dataset=toy its records are left out, and said so
    six = build_report("table5_k", tmp_path / "results", "toy_vlm", overrides=overrides)
    assert "(0/6, n=0, 0, 0)" in six and "dataset toy is not declared" in six and "dataset=toy reports it" in six


def test_an_unknown_experiment_lists_the_ones_there_are():
    from rns_bench.core.errors import ConfigError

    with pytest.raises(ConfigError, match="experiments: .*table1_ablations.*table5_k"):
        load_experiment("table9")


@pytest.mark.early
def test_make_experiment_runs_each_dataset_as_a_multirun_job_and_skips_missing_ones(tmp_path, toy_data_root, capsys):
    import subprocess
    import sys

    common = [
        f"results_dir={tmp_path / 'results'}",
        f"cache_dir={tmp_path / 'cache'}",
        f"data_root={toy_data_root}",
        f"presence_cache_dir={tmp_path / 'presence'}",
        "shots=[1]",
        "seeds=[100]",
        "test_limit=2",
        "methods=[rns_k1]",
        "rows.rns_k1.options.steps=20",
        "extraction.support_prefetch=drawn",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "rns_bench.bench", "--multirun", "experiment=table5_k", "dataset=toy,voc", *common],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "skipped voc (job 1): dataset folder not found" in done.stderr
    from rns_bench.cli.report import main as report  # make experiment's second command, in this process

    status = report(["table5_k", "dataset=toy,voc", *common])
    # toy's line in the per-dataset table (labelled by the row's override: not the paper's setting)
    assert status == 0 and "| RNS (K = 1) [rows.rns_k1.options.steps=20] | B = 1 |" in capsys.readouterr().out


def test_table3_scores_full_support_on_the_partial_runs_class_sets(tmp_path, monkeypatch):
    from rns_bench.report import class_figures
    from rns_bench.support.partial import dropped_classes

    results = tmp_path / "results"
    per_class = {f"c{c}": float(c) for c in range(21)}  # IoU of class c = c, so subset means are checkable
    full = write_record(
        results,
        "table3_partial",
        "voc",
        "rns",
        3,
        100,
        None,
        num_test_images=5,
        metrics={"mIoU": 10.0, "per_class_IoU": per_class},
    )
    partial = write_record(
        results,
        "table3_partial",
        "voc",
        "rns",
        3,
        100,
        None,
        folder="nv0.5_nt0",
        num_test_images=5,
        metrics={"mIoU": 60.0, "mIoU_supported": 70.0, "mIoU_unsupported": 50.0, "per_class_IoU": per_class},
    )
    drawn = {}
    monkeypatch.setattr(class_figures, "plot_per_class", lambda path, shown, labels, title: drawn.update(shown) or True)
    text = build_report("table3_partial", results, "clip_b16")
    unseen = set(dropped_classes(21, 0.5, 100))
    s = sum(c for c in range(21) if c not in unseen) / (21 - len(unseen))
    u = sum(unseen) / len(unseen)
    plain = text.translate(str.maketrans("", "", "⁰¹²³⁴⁵⁶⁷⁸⁹"))  # footnote markers aside
    line = next(x for x in plain.splitlines() if x.startswith("| RNS (Full) |"))
    assert f"{s:.2f} / 77.42 / {s - 77.42:+.2f} (1/1, n=1, 1, 5)" in line  # unseen 0.5 · S, paper Table 3a
    assert f"{u:.2f} / 66.89 / {u - 66.89:+.2f} (1/1, n=1, 1, 5)" in line
    partial_line = next(x for x in plain.splitlines() if x.startswith("| RNS (Partial) |"))
    h, paper_h = 2 * 70 * 50 / (70 + 50), 2 * 76.39 * 50.01 / (76.39 + 50.01)  # H beside A: 58.33 / 60.45
    assert (
        "70.00 / 76.39 / -6.39 (1/1, n=1, 1, 5) | 50.00 / 50.01 / -0.01 (1/1, n=1, 1, 5) | 60.00 / 63.83 / -3.83 "
        f"(1/1, n=1, 1, 5) | {h:.2f} / {paper_h:.2f} / {h - paper_h:+.2f} (1/1, n=1, 1, 5)" in partial_line
    )
    assert "RNS paper Table 3a: “RNS (Partial)” (H = 2SU/(S + U) of its S and U)" in text
    assert "– / 73.73" not in partial_line  # the unresolved VOC 90 % cell shows no paper value
    # The figure shows each row's own record: RNS (Partial) the partial run, RNS (Full) the full-support one.
    fingerprint = {path: json.loads(path.read_text())["fingerprint"] for path in (full, partial)}
    assert drawn["rns"].fingerprint == fingerprint[partial]
    assert drawn["rns_full_reference"].fingerprint == fingerprint[full]
    ade = build_report("table3_partial", results, "clip_b16", dataset="ade")
    assert "– / 35.47" in ade  # ADE's published values (with a footnote), no ADE records yet


def test_fig13_plots_miou_against_the_recorded_seconds(tmp_path, toy_data_root):
    overrides = ["seeds=[100]", "test_limit=2", "methods=[zero_shot,rns_steps50]"]
    run_sweep(bench_config(tmp_path, toy_data_root, "experiment=fig13_runtime", *overrides))
    text = build_report("fig13_runtime", tmp_path / "results", "toy_vlm", dataset="toy", overrides=overrides)
    section = text.split("## mIoU vs inference seconds per image", 1)[1]
    rows = {
        line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in section.splitlines() if line.startswith("| ")
    }
    assert {"Zero-shot", "RNS (50 steps)"} <= set(rows)
    zero_shot, rns = rows["Zero-shot"], rows["RNS (50 steps)"]
    assert 0 < float(zero_shot[3]) < float(rns[3])  # test-time training costs more than a text dot product
    # Extraction is measured once (by the run that extracted) and shared: the same figure on both rows,
    # and the inference total is it plus the method's own seconds.
    assert zero_shot[1] == rns[1] and float(zero_shot[1]) > 0 and zero_shot[2] == "–"
    for row in (zero_shot, rns):
        assert abs(float(row[4]) - float(row[1]) - float(row[3])) < 2e-4


def test_fig12_tunes_rns_per_support_set_and_the_run_uses_the_tuned_values(tmp_path, toy_data_root):
    overrides = [
        "shots=[2]",
        "seeds=[100]",
        "test_limit=2",
        "tuning.n_trials=2",
        "tuning.heartbeat_s=null",
        "tuning.search_space.rns_tuned.steps={type: int, low: 20, high: 40, step: 20}",
        "rows.rns.options.steps=20",
    ]
    run_sweep(bench_config(tmp_path, toy_data_root, "experiment=fig12_tuned_vs_fixed", *overrides))
    records = {r.row: r.to_json() for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")}
    tuned = records["rns_tuned"]["identity"]["method"]["tuned_params"]
    assert set(tuned) == {"lr", "steps", "beta_f", "beta_p", "tau"} and tuned["steps"] in (20, 40)
    assert records["rns_tuned"]["method_options"]["steps"] == tuned["steps"]
    assert records["rns"]["tuned_params"] is None
    text = build_report("fig12_tuned_vs_fixed", tmp_path / "results", "toy_vlm", dataset="toy", overrides=overrides)
    tuned_line = next(line for line in text.splitlines() if line.startswith("| RNS (tuned per support set) |"))
    assert (
        f"{records['rns_tuned']['metrics']['mIoU']:.2f} / – / – (1/1, n=1, 1, 2)" in tuned_line
    )  # tuned: still declared


def test_runs_save_their_first_predictions_and_the_report_draws_them(tmp_path, toy_data_root):
    import numpy as np
    from PIL import Image

    overrides = [
        "shots=[1]",
        "seeds=[100]",
        "test_limit=3",
        "methods=[rns_k1,rns]",
        "rows.rns_k1.options.steps=20",
        "rows.rns.options.steps=20",
        "save_predictions=2",
    ]
    run_sweep(bench_config(tmp_path, toy_data_root, "experiment=table5_k", *overrides))
    records = {r.row: r.to_json() for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")}
    for record in records.values():
        assert len(record["predictions"]) == 2
        for image_id, path in record["predictions"].items():
            png = Image.open(path)
            assert png.mode == "P"  # class ids as pixel values, the VOC palette for viewers
            assert np.asarray(png).max() < 16 and png.size[::-1] == (
                np.asarray(Image.open(toy_data_root / "toy" / "seed0" / "SegmentationClass" / f"{image_id}.png")).shape
            )
    text = build_report("table5_k", tmp_path / "results", "toy_vlm", dataset="toy", overrides=overrides)
    (out,) = (tmp_path / "results" / "reports").glob("table5_k-toy-*/toy_vlm")  # this declaration's own folder
    assert "* qualitative.png: image, ground truth, each row's prediction" in text
    assert (out / "qualitative.png").stat().st_size > 0 and (out / "per_class.png").stat().st_size > 0


def test_fig3_panels_one_per_backbone_and_granularity(tmp_path):
    from rns_bench.report.build import build_panels, panel_sources
    from rns_bench.report.declared import protocol_overrides

    results = tmp_path / "results"
    for backbone, protocol, value in (
        ("clip_b16", "full", 40.0),
        ("clip_b16", "full_region-sam2", 45.0),
        ("dinov3_txt", "full", 50.0),
    ):
        write_record(
            results,
            "fig3_shots",
            "voc",
            "rns",
            1,
            100,
            value,
            backbone=backbone,
            folder=protocol,
            overrides=protocol_overrides(protocol),
        )
    assert panel_sources(results, ["rns", "zero_shot"]) == [
        ("clip_b16", "full"),
        ("clip_b16", "full_region-sam2"),
        ("dinov3_txt", "full"),
    ]
    figure = build_panels("fig3_shots", results)
    assert figure == results / "reports" / "fig3_shots" / "panels.png" and figure.stat().st_size > 0
    from PIL import Image

    from rns_bench.report.build import experiment_panels
    from rns_bench.report.style import DPI, PAGE_WIDTH

    assert len(experiment_panels("fig3_shots", results)) == 3  # side by side, the page's width
    assert Image.open(figure).size[0] == round(PAGE_WIDTH * DPI)
    # The region folder's records are the declared config of the region-mode report, not of the patch one.
    region = build_report("fig3_shots", results, "clip_b16", protocol="full_region-sam2")
    assert "45.00 / – / – (1/6, n=1, 1, 10)" in region and "Left out" not in region
