"""A report shows exactly the records of the configs its experiment (and the sweep's command line)
declares — never a smoke run, an ad-hoc option or another dataset's records — lists what it left out,
and fails on a user mistake in one line; its outputs are written atomically."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
from bench_config import bench_config
from report.declared_records import write_record

from rns_bench.bench.sweep import run_sweep
from rns_bench.cli.report import main
from rns_bench.report.build import build_panels, build_report


def _set(path: str, value):
    def change(identity: dict) -> None:
        *parents, name = path.split(".")
        node = identity
        for part in parents:
            node = node[part]
        node[name] = value

    return change


def _left_out(text: str) -> dict[str, int]:
    """why → records, from the report's Left out table."""
    section = text.split("## Left out", 1)[1] if "## Left out" in text else ""
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()]
    return {row[1]: int(row[0].lstrip("| ")) for row in rows}


def test_a_report_uses_only_the_declared_configs_and_lists_the_rest(tmp_path):
    results = tmp_path / "results"
    day = "2026-12-0{}T00:00:00Z".format
    write_record(results, "table5_k", "voc", "rns", 1, 100, 36.16, created=day(1))  # the declared full runs
    write_record(results, "table5_k", "ade", "rns", 1, 100, 30.00, created=day(1))
    write_record(results, "table5_k", "voc", "rns_k32", 1, 100, 35.09, created=day(1))
    # Newer, in the same folders: an ad-hoc rows.rns.options.k=32 run, a smoke run on 8 test images, an
    # undeclared seed and a user's own dataset.
    write_record(
        results, "table5_k", "voc", "rns", 1, 100, 35.09, created=day(3), change=_set("method.row_options.k", 32)
    )
    write_record(results, "table5_k", "voc", "rns", 1, 100, 16.20, created=day(4), test_limit=8, num_test_images=8)
    write_record(results, "table5_k", "voc", "rns", 1, 7, 99.0, created=day(4))
    write_record(
        results, "table5_k", "voc", "rns", 1, 18, 99.0, created=day(4), change=_set("evaluation.batch_size", 4)
    )
    food = write_record(results, "table5_k", "voc", "rns", 1, 100, 80.0, created=day(5), data_copy="food")
    (results / "food" / "clip_b16" / "full" / "rns").mkdir(parents=True)
    shutil.move(food, results / "food" / "clip_b16" / "full" / "rns" / food.name)

    text = build_report("table5_k", results, "clip_b16")
    assert "| RNS (K = 4) | 33.08 / 41.59² / – (2/6, n=1, 2, 20) |" in text  # (36.16 + 30.00) / 2: declared only
    assert "| RNS (K = 4) | B = 1 | 30.00 | 36.16 |" in text  # per dataset: ade, voc
    assert "| RNS (K = 32) | B = 1 | – | 35.09 |" in text  # the k = 32 number under its own label only
    assert "missing: RNS (K = 16) · B = 1 has no records of the declared config" in text  # never filled
    assert "missing: RNS (K = 4) · B = 5 has no records of the declared config" in text
    assert "RNS (K = 4) · B = 1: mean over ade, voc only (missing cityscapes, coco_object, coco_stuff, context)" in text
    assert "food" not in text.split("## Left out")[0]
    assert _left_out(text) == {
        "another config: rows.rns.options.k=32 (declared 4)": 1,
        "smoke run: test_limit=8 (8 test images); declared: every test image": 1,
        "seed 7 is not declared (seeds: 100, 18, 42, 84, 92, 256, 512, 1024)": 1,
        "another config: batch_size=4 (declared 16)": 1,
        "dataset food is not declared (datasets: voc, context, coco_object, coco_stuff, cityscapes, ade); "
        "dataset=food reports it": 1,
    }
    assert "left out: 5 record(s) of these rows that are not the declared configs" in text
    out = results / "reports" / "table5_k" / "clip_b16"
    csv_rows = (out / "report.csv").read_text().splitlines()
    assert any(line.startswith("rns,RNS (K = 4),1,A,33.08") for line in csv_rows)
    assert r"RNS (K = 4) & 33.08 & -- & 41.59\textsuperscript{2}" in (out / "report.tex").read_text()  # one seed each

    # Declaring the other settings on the command line makes them the numbers (and the earlier ones left out).
    smoke = build_report("table5_k", results, "clip_b16", overrides=["test_limit=8"])
    assert "| RNS (K = 4) | B = 1 | 16.20 |" in smoke
    assert _left_out(smoke)["10 test images (every test image); declared: test_limit=8"] == 6
    # another declaration, another folder: the smoke report never replaces the declared one
    (smoke_out,) = (results / "reports").glob("table5_k-*/clip_b16")
    assert "16.20" in (smoke_out / "report.md").read_text() and "16.20" not in (out / "report.md").read_text()
    k32 = build_report("table5_k", results, "clip_b16", overrides=["rows.rns.options.k=32"])
    assert "| RNS (K = 4) | B = 1 | 35.09 | 35.09 |" not in k32
    # the user asked for k = 32 under that row: the label says so and the paper's K = 4 value is not compared
    assert "| RNS (K = 4) [rows.rns.options.k=32] | 35.09 / – / – (1/6, n=1, 1, 10) |" in k32
    assert "RNS (K = 4) [rows.rns.options.k=32]: the command line changes this row's config; its numbers are not" in k32
    assert "| RNS (K = 16) | " in k32  # rows the override leaves alone keep their label and paper value
    # A record moved under another dataset's folder still says it is voc's: never food's number.
    assert "| RNS (K = 4) | – / – / – (0/1, n=0, 0, 0) |" in build_report(
        "table5_k", results, "clip_b16", dataset="food"
    )


def test_a_test_limit_that_cut_nothing_is_the_full_split(tmp_path):
    results = tmp_path / "results"
    write_record(results, "table5_k", "voc", "rns", 1, 100, 40.0, test_limit=500, num_test_images=10)
    text = build_report("table5_k", results, "clip_b16")
    assert "| RNS (K = 4) | B = 1 | 40.00 |" in text and "Left out" not in text


def test_a_cell_with_fewer_seeds_than_declared_says_which_are_missing(tmp_path):
    results = tmp_path / "results"
    write_record(results, "table5_k", "voc", "rns", 1, 100, 40.0)
    write_record(results, "table5_k", "voc", "rns", 1, 18, 44.0)
    text = build_report("table5_k", results, "clip_b16", overrides=["seeds=[100,18,42]"])
    assert "⚠ RNS (K = 4) · B = 1: voc: 2 of 3 declared seeds (missing 42): the mean is of fewer seeds" in text
    complete = build_report("table5_k", results, "clip_b16", overrides=["seeds=[100,18]"])
    assert "declared seeds" not in complete


def test_a_record_with_a_metric_that_is_not_a_number_is_named_and_left_out(tmp_path):
    results = tmp_path / "results"
    write_record(results, "table5_k", "voc", "rns", 1, 100, 40.0)
    bad = write_record(results, "table5_k", "voc", "rns", 1, 18, "high")
    with pytest.warns(UserWarning, match=f"leaves out {bad}: metrics.mIoU='high' is not a number"):
        text = build_report("table5_k", results, "clip_b16")
    assert "| RNS (K = 4) | B = 1 | 40.00 |" in text
    assert _left_out(text) == {f"unusable file {bad}: metrics.mIoU='high' is not a number": 1}


@pytest.fixture(scope="module")
def toy_results(tmp_path_factory, toy_data_root) -> tuple[Path, list[str]]:
    """Real sweeps on toy: the declared runs (4 test images), a smoke run (2), an ad-hoc k = 32 run, and
    the same records copied under another dataset's folder. Returns (results_dir, the declared overrides)."""
    tmp = tmp_path_factory.mktemp("declared")
    declared = [
        "shots=[1]",
        "seeds=[100]",
        "methods=[rns_k1,rns]",
        "rows.rns_k1.options.steps=20",
        "rows.rns.options.steps=20",
        "save_predictions=2",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_sweep(bench_config(tmp, toy_data_root, "experiment=table5_k", *declared, "test_limit=4"))
        run_sweep(bench_config(tmp, toy_data_root, "experiment=table5_k", *declared, "test_limit=2"))
        run_sweep(
            bench_config(
                tmp,
                toy_data_root,
                "experiment=table5_k",
                *declared,
                "test_limit=4",
                "methods=[rns]",
                "rows.rns.options.k=32",
            )
        )
    results = tmp / "results"
    shutil.copytree(results / "toy", results / "mine")
    return results, [*declared, "test_limit=4", f"data_root={toy_data_root}"]


def _declared_miou(results: Path, row: str) -> float:
    for path in (results / "toy" / "toy_vlm" / "full" / row).glob("B1_seed100-*.json"):
        record = json.loads(path.read_text())
        if record["config"]["test_limit"] == 4 and record["identity"]["method"]["row_options"]["k"] != 32:
            return record["metrics"]["mIoU"]
    raise AssertionError(f"no declared record of {row}")


def test_sweep_records_of_smoke_runs_overrides_and_other_datasets_are_left_out(toy_results, capsys):
    results, declared = toy_results
    assert main(["table5_k", f"results_dir={results}", "backbone=toy_vlm", "dataset=toy", *declared]) == 0
    text = capsys.readouterr().out
    rns, rns_k1 = _declared_miou(results, "rns"), _declared_miou(results, "rns_k1")
    # the declared rows.<row>.options.steps=20 (a short run) labels them: not the paper's setting
    assert f"| RNS (K = 4) [rows.rns.options.steps=20] | {rns:.2f} / – / – (1/1, n=1, 1, 4) |" in text
    assert f"| RNS (K = 1) [rows.rns_k1.options.steps=20] | {rns_k1:.2f} / – / – (1/1, n=1, 1, 4) |" in text
    assert _left_out(text) == {
        "2 test images (test_limit=2); declared: test_limit=4": 2,
        "another config: rows.rns.options.k=32 (declared 4)": 1,
        "dataset mine is not declared (datasets: toy); dataset=mine reports it": 5,
    }


def test_every_report_output_replaces_a_planted_symlink_and_never_writes_through_it(toy_results, tmp_path):
    results, declared = toy_results
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    names = ["report.md", "report.csv", "report.tex", "report.png", "per_class.png", "qualitative.png"]
    for name in names:
        (outside / name).write_text("not yours")
        (out / name).symlink_to(outside / name)
    text = build_report("table5_k", results, "toy_vlm", out_dir=out, dataset="toy", overrides=declared)
    assert "* qualitative.png: image, ground truth, each row's prediction" in text
    panels = tmp_path / "panels.png"
    (outside / "panels.png").write_text("not yours")
    panels.symlink_to(outside / "panels.png")
    assert build_panels("table5_k", results, panels, overrides=declared, dataset="toy") == panels
    for path in [*(out / name for name in names), panels]:
        assert not path.is_symlink() and path.is_file() and path.stat().st_size > 0, path
        assert (outside / path.name).read_text() == "not yours"
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (
            ["backbon=toy_vlm"],
            [
                "unknown key backbon (from backbon=toy_vlm); did you mean backbone?",
                "report keys: backbone, results_dir, dataset, protocol, panels",
                "test_limit",
            ],
        ),
        (["rows.rns.options.kk=3"], ["rows.rns.options.kk"]),
        (["shots=[0]"], ["shots=[0]"]),
        (["protocol=half"], ["protocol=half is not a results folder"]),
        (["dataset"], ["dataset: expected key=value"]),
    ],
)
def test_a_mistake_on_the_command_line_is_one_line_naming_it(arguments, says, tmp_path, capsys):
    (tmp_path / "results").mkdir()
    with pytest.raises(SystemExit) as exit_status:
        main(["table5_k", f"results_dir={tmp_path / 'results'}", *arguments])
    assert exit_status.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("error: "), error
    for part in says:
        assert part in error, error


def test_a_results_dir_that_is_not_there_fails_in_one_line_and_creates_nothing(tmp_path, capsys):
    typo = tmp_path / "resluts"
    with pytest.raises(SystemExit) as exit_status:
        main(["table5_k", f"results_dir={typo}"])
    assert exit_status.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f"results_dir={typo} does not exist" in error
    assert not typo.exists() and list(tmp_path.iterdir()) == []


def test_results_folder_names_read_back_as_the_overrides_that_make_them():
    from rns_bench.report.declared import ProtocolFolder, parse_protocol_folder, protocol_overrides

    assert parse_protocol_folder("full") == ProtocolFolder(0.0, 0.0, None, None)
    assert parse_protocol_folder("nv0.5_nt0_region-sam2_support-acdc") == ProtocolFolder(0.5, 0.0, "sam2", "acdc")
    assert parse_protocol_folder("stale") is None
    assert protocol_overrides("full_region-felzenszwalb") == [
        "protocol.visual_drop_fraction=0.0",
        "protocol.text_drop_fraction=0.0",
        "query_mode=region",
        "proposer=felzenszwalb",
    ]
