"""The tune command on the embedded toy benchmark: best parameters next to the run record, and
the bench's lookup of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from rns_bench.core.paths import CONFIG_DIR
from rns_bench.ops.resize import PIXEL_PIPELINE
from rns_bench.runs.key import RunKey
from rns_bench.runs.plan import tuned_options, write_best_params
from rns_bench.runs.records import read_records
from rns_bench.runs.schema import validate_config

optuna = pytest.importorskip("optuna")

from rns_bench.tuning.tune import run_tuning  # noqa: E402


def tune_config(tmp_path: Path, data_root: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(
            "tune",
            overrides=[
                f"data_root={data_root}",
                f"results_dir={tmp_path / 'results'}",
                f"cache_dir={tmp_path / 'cache'}",
                f"presence_cache_dir={tmp_path / 'p'}",
                "tuning.heartbeat_s=null",
                *overrides,
            ],
        )


def test_tune_writes_best_params_next_to_the_record_and_resumes(tmp_path, toy_data_root):
    small = (
        "methods=[linear_class_features]",
        "shots=[1]",
        "seeds=[100]",
        "tuning.report_every=10",
        "tuning.search_space.linear_class_features.steps.low=10",
        "tuning.search_space.linear_class_features.steps.high=30",
        "tuning.search_space.linear_class_features.steps.step=10",
    )
    [summary] = run_tuning(validate_config(tune_config(tmp_path, toy_data_root, "tuning.n_trials=2", *small)))
    key = RunKey("toy", "toy_vlm", "full", "linear_class_features", 1, 100)
    path = Path(summary["path"])
    saved = json.loads(path.read_text())
    fp = saved["tuning_fingerprint"]
    assert path == key.tuned_path(tmp_path / "results", fp)
    assert path.parent == key.path(tmp_path / "results").parent and path.name == f"tuned_B1_seed100-{fp[:12]}.json"
    assert set(saved["params"]) == {"lr", "batch_size", "steps"} and saved["trials_run_now"] == 2
    assert not set(saved["val_ids"]) & set(saved["train_ids"])  # validation = held-out support images
    assert (
        tmp_path / "results" / "tuning" / "toy" / "toy_vlm" / "full" / "linear_class_features" / "B1_seed100.db"
    ).exists()
    assert summary["path"] == str(path)

    again = run_tuning(validate_config(tune_config(tmp_path, toy_data_root, "tuning.n_trials=3", *small)))[0]
    assert again["trials_run_now"] == 1 and again["n_complete"] + again["n_pruned"] == 3

    assert again["tuning_fingerprint"] == fp  # more trials extend the same study: same config
    options, source, tuned = tuned_options(tmp_path / "results", key, {"weight_decay": 0.0, "lr": 123.0}, fp)
    assert source == path and options == {"weight_decay": 0.0, **again["params"]}  # tuned values win
    assert tuned == again["params"]
    other = run_tuning(
        validate_config(tune_config(tmp_path, toy_data_root, "tuning.n_trials=1", *small, "tuning.val_fraction=0.3"))
    )
    assert other[0]["tuning_fingerprint"] != fp and other[0]["trials_run_now"] == 1  # its own study and file
    assert json.loads(path.read_text())["params"] == again["params"]  # the other config's file is untouched
    assert read_records(tmp_path / "results", "toy", "toy_vlm", "full") == []  # never mistaken for a record


def test_untuned_runs_keep_their_options(tmp_path):
    key = RunKey("toy", "toy_vlm", "full", "linear_patches", 5, 18)
    assert tuned_options(tmp_path, key, {"steps": 7}, "f" * 64) == ({"steps": 7}, None, None)
    path = key.tuned_path(tmp_path, "f" * 64)
    # A file tuned before the OpenCV pixel path (no stamp): its trials scored other features.
    write_best_params(path, {"params": {"steps": 50}})
    assert tuned_options(tmp_path, key, {"steps": 7}, "f" * 64) == ({"steps": 7}, None, None)
    write_best_params(path, {"params": {"steps": 50}, "pixel_pipeline": PIXEL_PIPELINE, "tuning_fingerprint": "e" * 64})
    assert tuned_options(tmp_path, key, {"steps": 7}, "f" * 64)[0] == {"steps": 7}  # another tuning config's
    write_best_params(path, {"params": {"steps": 50}, "pixel_pipeline": PIXEL_PIPELINE, "tuning_fingerprint": "f" * 64})
    assert tuned_options(tmp_path, key, {"steps": 7}, "f" * 64)[0] == {"steps": 50}
    assert not list(path.parent.glob("*.tmp"))  # the atomic write left nothing behind


def test_finetune_rns_runs_are_tuned_as_finetune_on_finetuned_features(tmp_path, toy_data_root, capsys):
    """make bench with only finetune_rns: its encoder training is tuned under the finetune row
    (every trial finetunes, then re-extracts train and validation features), and the run uses it."""
    from bench_config import bench_config

    from rns_bench.bench.sweep import run_sweep

    steps = (
        "tuning.search_space.finetune.steps.low=2",
        "tuning.search_space.finetune.steps.high=4",
        "tuning.search_space.finetune.steps.step=2",
    )
    run_sweep(
        bench_config(
            tmp_path,
            toy_data_root,
            "methods=[finetune_rns]",
            "shots=[1]",
            "seeds=[100]",
            "test_limit=4",
            "tuning.n_trials=2",
            "tuning.heartbeat_s=null",
            *steps,
        )
    )
    (tuned,) = (tmp_path / "results" / "toy" / "toy_vlm" / "full" / "finetune").glob("tuned_B1_seed100-*.json")
    saved = json.loads(tuned.read_text())
    assert set(saved["params"]) == {"lr", "encoder_lr", "batch_size", "steps"} and saved["n_complete"] == 2
    assert saved["params"]["steps"] in (2, 4)
    assert 0 < saved["value"] <= 100
    [record] = [r.to_json() for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")]
    assert record["row"] == "finetune_rns" and record["tuned_params"] == str(tuned)
    assert {k: record["method_options"][k] for k in saved["params"]} == saved["params"]  # tuned values on top
    assert record["identity"]["method"]["tuned_params"] == saved["params"]  # and in the fingerprint
    assert "finetune B=1 seed=100: best val mIoU" in capsys.readouterr().out


def test_finetune_rns_after_finetune_uses_the_parameters_finetune_just_tuned(tmp_path, toy_data_root, capsys):
    """make bench's order: finetune tunes its support set, then finetune_rns of the same set must run
    with those parameters in the same sweep (it was planned before they existed); a second sweep then
    runs nothing."""
    from bench_config import bench_config

    from rns_bench.bench.sweep import run_sweep

    steps = (
        "tuning.search_space.finetune.steps.low=2",
        "tuning.search_space.finetune.steps.high=4",
        "tuning.search_space.finetune.steps.step=2",
    )
    args = (
        "methods=[finetune,finetune_rns]",
        "shots=[1]",
        "seeds=[100]",
        "test_limit=2",
        "tuning.n_trials=2",
        "tuning.heartbeat_s=null",
        *steps,
    )
    run_sweep(bench_config(tmp_path, toy_data_root, *args))
    records = {r.row: r.to_json() for r in read_records(tmp_path / "results", "toy", "toy_vlm", "full")}
    assert records["finetune_rns"]["tuned_params"] == records["finetune"]["tuned_params"] is not None
    assert (
        records["finetune_rns"]["identity"]["method"]["tuned_params"]
        == records["finetune"]["identity"]["method"]["tuned_params"]
    )
    capsys.readouterr()
    run_sweep(bench_config(tmp_path, toy_data_root, *args))
    assert "2 of 2 runs already have records of this config; running 0." in capsys.readouterr().out
