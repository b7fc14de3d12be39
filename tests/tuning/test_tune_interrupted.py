"""The tune command cut by Ctrl-C: what it prints is true, and the same command again writes the
tuned file of an uninterrupted run. ``tuning.n_trials`` < 1 is one line before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from rns_bench.core.errors import ConfigError
from rns_bench.core.paths import CONFIG_DIR
from rns_bench.runs.schema import validate_config

optuna = pytest.importorskip("optuna")

import rns_bench.tuning.tune as tune_run  # noqa: E402
from rns_bench.tuning.workers import counted_trials  # noqa: E402

SMALL = (
    "methods=[linear_class_features]",
    "shots=[1]",
    "seeds=[100]",
    "tuning.n_trials=4",
    "tuning.report_every=10",
    "tuning.tpe_startup_trials=2",
    "tuning.pruner.n_startup_trials=1",
    "tuning.pruner.n_warmup_steps=0",
    "tuning.search_space.linear_class_features.steps.low=10",
    "tuning.search_space.linear_class_features.steps.high=30",
    "tuning.search_space.linear_class_features.steps.step=10",
)
SAME = (
    "params",
    "value",
    "trial",
    "n_finished",
    "n_complete",
    "n_pruned",
    "tuning_fingerprint",
    "train_ids",
    "val_ids",
    "same_as_uninterrupted",
)


def trials_of(summary: dict) -> list[tuple]:
    """Each finished trial's parameters, state, value and intermediate values, from the summary's study."""
    study = optuna.load_study(study_name=summary["study_name"], storage=summary["storage"])
    return [(t.params, t.state, t.value, t.intermediate_values) for t in counted_trials(study)]


def tune_config(results: Path, cache: Path, data_root: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(
            "tune",
            overrides=[
                f"data_root={data_root}",
                f"results_dir={results}",
                f"cache_dir={cache}",
                f"presence_cache_dir={cache / 'presence'}",
                *overrides,
            ],
        )


def test_ctrl_c_prints_what_is_true_and_the_same_command_writes_the_uninterrupted_file(
    tmp_path, toy_data_root, monkeypatch, capsys
):
    cache = tmp_path / "cache"
    [whole] = tune_run.run_tuning(validate_config(tune_config(tmp_path / "whole", cache, toy_data_root, *SMALL)))

    make_objective = tune_run.make_objective
    cut_once = []

    def cut_at_trial_2(problem, space):
        objective = make_objective(problem, space)

        def objective_or_ctrl_c(trial):
            if trial.number == 2 and not cut_once:
                cut_once.append(trial.number)
                raise KeyboardInterrupt
            return objective(trial)

        return objective_or_ctrl_c

    cfg = tune_config(tmp_path / "cut", cache, toy_data_root, *SMALL)
    monkeypatch.setattr(tune_run, "make_objective", cut_at_trial_2)
    capsys.readouterr()
    with pytest.raises(KeyboardInterrupt):
        tune_run.run_tuning(validate_config(cfg))
    err = capsys.readouterr().err
    assert "interrupted: the study toy/toy_vlm/full/linear_class_features/B1_seed100" in err
    assert (
        "keeps its 2 finished trials of 4; a trial cut short is marked failed and does not count. Run the "
        "same command again to resume: it finishes the same trials, with the same values, as an uninterrupted "
        "study of 4 trials, and so writes the same best parameters"
    ) in err
    assert "Traceback" not in err  # optuna's failed-trial warning is not shown for a Ctrl-C

    [resumed] = tune_run.run_tuning(validate_config(cfg))  # the same command again: what was printed holds
    assert trials_of(resumed) == trials_of(whole)
    assert {k: resumed[k] for k in SAME} == {k: whole[k] for k in SAME}
    assert resumed["trials_run_now"] == 2 and resumed["resumed"]
    assert resumed["failed_trials"] == [{"trial": 2, "why": "interrupted"}]
    saved = json.loads(Path(resumed["path"]).read_text())  # the tuned file carries the mark
    assert saved["failed_trials"] == resumed["failed_trials"] and saved["same_as_uninterrupted"] is True
    out = capsys.readouterr().out
    assert "1 trial(s) cut short and run again, drawn as an uninterrupted study draws them" in out


@pytest.mark.parametrize("n_trials", [0, -3])
def test_no_trials_is_one_line_before_any_feature_is_extracted(tmp_path, toy_data_root, monkeypatch, n_trials):
    def no_work(cfg):
        raise AssertionError("the context (features) was built before the config was checked")

    monkeypatch.setattr(tune_run, "build_context", no_work)
    cfg = tune_config(tmp_path, tmp_path / "cache", toy_data_root, *SMALL, f"tuning.n_trials={n_trials}")
    # checked with the whole config (rns_bench.runs.schema), which also says where the value came from
    with pytest.raises(
        ConfigError,
        match=rf"^tuning.n_trials={n_trials}\b.*: a study needs at least one trial; "
        r"set tuning.n_trials to a whole number ≥ 1",
    ):
        tune_run.run_tuning(validate_config(cfg))


def test_the_tune_command_exits_2_with_one_line_for_no_trials(tmp_path, toy_data_root, monkeypatch, capsys):
    from rns_bench.cli import tune

    monkeypatch.setattr(tune, "run", lambda: pytest.fail("Hydra's run started"))
    monkeypatch.setattr(
        "sys.argv",
        [
            "tune",
            "dataset=toy",
            f"data_root={toy_data_root}",
            f"results_dir={tmp_path / 'results'}",
            f"cache_dir={tmp_path / 'cache'}",
            "tuning.n_trials=-3",
        ],
    )
    with pytest.raises(SystemExit) as exit_:
        tune.main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: tuning.n_trials=-3 (from the override tuning.n_trials=-3): a study needs at least one trial; set "
        "tuning.n_trials to a whole number ≥ 1 "
        "(configs/tuning/default.yaml: 10)"
    ]
