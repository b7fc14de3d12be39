"""The ``make bench`` sweep end to end on the embedded toy benchmark (reduced)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from bench_config import bench_config

from rns_bench.bench.sweep import run_sweep
from rns_bench.core.errors import ConfigError, UnknownNameError
from rns_bench.runs.records import read_records

SMALL = ("shots=[1]", "seeds=[100,18]", "test_limit=12", "methods=[zero_shot,rns]")


def test_sweep_writes_records_and_leaderboard_then_skips_them(tmp_path, toy_data_root, capsys):
    cfg = bench_config(tmp_path, toy_data_root, *SMALL)
    board = run_sweep(cfg)
    records = [r.to_json() for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")]
    assert sorted((r["row"], r["shots"], r["seed"]) for r in records) == [
        ("rns", 1, 18),
        ("rns", 1, 100),
        ("zero_shot", 1, 18),
        ("zero_shot", 1, 100),
    ]
    for record in records:
        assert record["num_test_images"] == 12
        assert len(record["support_split"]["sha256"]) == 64
        assert set(record["metrics"]["per_class_IoU"]) == set(cfg_classes(cfg))
        assert 0 <= record["metrics"]["mIoU"] <= 100
    # Different seeds draw different support sets; zero-shot ignores them.
    rns = {r["seed"]: r for r in records if r["row"] == "rns"}
    assert rns[100]["support_split"]["image_ids"] != rns[18]["support_split"]["image_ids"]
    out_dir = tmp_path / "results" / "toy" / "toy_vlm" / "full"
    assert {"leaderboard.md", "leaderboard.csv", "leaderboard.png"} <= {p.name for p in out_dir.iterdir()}
    assert "| rns |" in board and "| zero_shot |" in board and "(n=2)" in board

    before = {p: p.stat().st_mtime_ns for p in out_dir.glob("*/*.json")}
    capsys.readouterr()
    run_sweep(cfg)
    assert "4 of 4 runs already have records of this config; running 0" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out_dir.glob("*/*.json")} == before  # finished runs stay finished


def cfg_classes(cfg) -> list[str]:
    from rns_bench.data.datasets import get_dataset

    return get_dataset(cfg.dataset.key).class_names()


def test_unknown_names_list_the_valid_ones(tmp_path, toy_data_root):
    with pytest.raises(UnknownNameError, match="toy"):
        run_sweep(bench_config(tmp_path, toy_data_root, "dataset.key=vocc"))
    with pytest.raises(ConfigError, match="zero_shot"):
        run_sweep(bench_config(tmp_path, toy_data_root, "methods=[rnss]"))
    assert not (tmp_path / "results").exists()  # nothing written for a bad name


def test_bench_command_exits_with_the_message_not_a_traceback(tmp_path, monkeypatch, capsys):
    """``python -m rns_bench.bench`` (its ``main``, with the command line in ``sys.argv``)."""
    from rns_bench.cli.bench import main

    monkeypatch.setenv("RNS_DATA_ROOT", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["rns_bench.bench", "dataset=nope", f"results_dir={tmp_path}/r"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.strip().splitlines() == [err.strip()]  # one line
    assert "no config dataset/nope.yaml; choices for dataset:" in err and "toy" in err
    assert not (tmp_path / "r").exists()  # failed before Hydra made its output folder


def test_record_is_self_describing(tmp_path, toy_data_root):
    run_sweep(bench_config(tmp_path, toy_data_root, "shots=[1]", "seeds=[42]", "test_limit=4", "methods=[zero_shot]"))
    (path,) = (tmp_path / "results" / "toy" / "toy_vlm" / "full" / "zero_shot").glob("B1_seed42-*.json")
    record = json.loads(path.read_text())
    for field in (
        "class_list_sha256",
        "support_split",
        "config",
        "environment",
        "timings_s",
        "created",
        "fingerprint",
        "config_fingerprint",
        "identity",
    ):
        assert field in record
    assert record["config"]["dataset"] == {"key": "toy"}
    assert record["identity"]["data"]["num_test_images"] == 4


@pytest.mark.early
def test_ddp_on_two_processes_extracts_each_image_once_and_gives_the_single_process_numbers(
    tmp_path, toy_data_root, capsys
):
    """Lightning's own DDP launcher (CPU, gloo): the ranks split the sweep's extraction (each image once in
    total, into the shared cache), evaluate disjoint shards and sync the metric: the single-process numbers
    (run in this process, as the sweep runs without a launcher)."""
    common = [
        "shots=[1]",
        "seeds=[100]",
        "test_limit=9",
        "methods=[zero_shot,rns]",
        "rows.rns.options.steps=100",  # the ranks must agree with one process, however long RNS trains
        "extraction.support_prefetch=drawn",
        "trainer.accelerator=cpu",
    ]
    run_sweep(bench_config(tmp_path / "single", toy_data_root, *common))
    counts = {"single": [extracted_counts(capsys.readouterr().out)]}
    env = {**os.environ, "RNS_DATA_ROOT": str(toy_data_root)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rns_bench.bench",
            *common,
            "trainer.devices=2",
            "trainer.strategy=ddp",
            f"data_root={toy_data_root}",
            f"cache_dir={tmp_path / 'ddp' / 'cache'}",
            f"results_dir={tmp_path / 'ddp'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    counts["ddp"] = [
        extracted_counts(line)
        for line in done.stdout.splitlines()
        if line.startswith("features extracted by this sweep")
    ]
    split_images = len(
        json.loads(next((tmp_path / "single" / "results").rglob("B1_seed100-*.json")).read_text())["support_split"][
            "image_ids"
        ]
    )
    assert counts["single"] == [(9, split_images)]
    assert len(counts["ddp"]) == 2  # one line per rank
    assert tuple(map(sum, zip(*counts["ddp"], strict=True))) == (9, split_images)  # each image once in total
    assert all(test > 0 for test, _ in counts["ddp"])  # both ranks did a share
    single, ddp = (
        [r.to_json() for r in read_records(folder, "toy", "toy_vlm", "full")]
        for folder in (tmp_path / "single" / "results", tmp_path / "ddp")
    )
    assert len(single) == len(ddp) == 2
    by_row = {r["row"]: r["metrics"] for r in single}
    for record in ddp:
        assert record["metrics"]["mIoU"] == by_row[record["row"]]["mIoU"]
        assert record["metrics"]["aAcc"] == by_row[record["row"]]["aAcc"]


def extracted_counts(out: str) -> tuple[int, int]:
    line = next(line for line in out.splitlines() if line.startswith("features extracted by this sweep"))
    test, support = (int(part.split()[0]) for part in line.split(": ", 1)[1].split(", ")[:2])
    return test, support


@pytest.mark.parametrize("prefetch", ["auto", "drawn"])
def test_a_later_run_with_another_method_or_seed_extracts_nothing(prefetch, tmp_path, toy_data_root, capsys):
    common = ("shots=[1]", "test_limit=6", f"extraction.support_prefetch={prefetch}")
    run_sweep(bench_config(tmp_path, toy_data_root, "seeds=[100]", "methods=[rns]", *common))
    assert extracted_counts(capsys.readouterr().out)[0] == 6
    run_sweep(bench_config(tmp_path, toy_data_root, "seeds=[18]", "methods=[knn_clip]", *common))
    test, support = extracted_counts(capsys.readouterr().out)
    assert test == 0
    # auto on toy = the whole 240-image support pool up front; drawn extracts seed 18's new images.
    assert (support == 0) if prefetch == "auto" else (support > 0)


def test_make_bench_tunes_offline_rows_first_then_uses_the_tuned_parameters(tmp_path, toy_data_root, capsys):
    small = (
        "shots=[1]",
        "seeds=[100]",
        "test_limit=6",
        "methods=[rns,linear_class_features]",
        "tuning.n_trials=2",
        "tuning.heartbeat_s=null",
        "tuning.search_space.linear_class_features.steps={type: int, low: 10, high: 30, step: 10}",
    )
    run_sweep(bench_config(tmp_path, toy_data_root, *small))
    records = {r.row: r.to_json() for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")}
    (tuned_file,) = (tmp_path / "results" / "toy" / "toy_vlm" / "full" / "linear_class_features").glob(
        "tuned_B1_seed100-*.json"
    )
    assert records["linear_class_features"]["tuned_params"] == str(tuned_file)
    params = json.loads(tuned_file.read_text())["params"]
    assert {k: records["linear_class_features"]["method_options"][k] for k in params} == params
    assert records["rns"]["tuned_params"] is None  # RNS runs with its fixed defaults
    assert "linear_class_features B=1 seed=100: best val mIoU" in capsys.readouterr().out

    # The file was tuned over 2 trials: a sweep declaring 3 extends the study (never uses the 2-trial best
    # under a config that says 3), and the record points at parameters chosen over 3 trials.
    run_sweep(bench_config(tmp_path, toy_data_root, *small[:4], "tuning.n_trials=3", *small[5:]))
    assert "best val mIoU" in capsys.readouterr().out
    payload = json.loads(tuned_file.read_text())
    assert payload["n_trials"] == 3 and payload["n_finished"] == 3 and payload["trials_run_now"] == 1
    run_sweep(bench_config(tmp_path, toy_data_root, *small[:4], "tuning.n_trials=3", *small[5:]))
    assert "best val mIoU" not in capsys.readouterr().out  # tuned for this config: nothing to do
