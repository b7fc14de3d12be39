"""Optuna tuning of one support set: seeded, resumable, and the pieces it is built from."""

from __future__ import annotations

import pytest
import torch
from synthetic_problem import PATCH, make_problem

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.support.pixels import bank_of_pixels, drop_label_classes, split_support

optuna = pytest.importorskip("optuna")

from rns_bench.support.pixels import SupportPixels  # noqa: E402
from rns_bench.tuning.objective import TuningProblem, make_objective, validation_miou  # noqa: E402
from rns_bench.tuning.study import StudySettings, open_study, parse_search_space, sqlite_url  # noqa: E402
from rns_bench.tuning.workers import finished_trials, run_study  # noqa: E402

SPACE = {
    "lr": {"type": "float", "low": 1e-3, "high": 0.5, "log": True},
    "batch_size": {"type": "categorical", "choices": [2, 4, 64]},
    "steps": {"type": "int", "low": 10, "high": 40, "step": 10},
}
SETTINGS = StudySettings(sampler_seed=3, tpe_startup_trials=2, pruner_startup_trials=1, heartbeat_s=None)


@pytest.fixture(scope="module")
def problem() -> TuningProblem:
    """Support images 0–3 train, 4–5 validate (8×8-patch validation items with their labels)."""
    p = make_problem(seed=5, support_images=6, grid=8)
    pixels = [
        SupportPixels(f"s{i}", f, y) for i, (f, y) in enumerate(zip(p.support_features, p.support_labels, strict=True))
    ]
    val_items = [
        {"image_id": i.image_id, "features": i.features, "resized_hw": tuple(i.label.shape), "label": i.label}
        for i in pixels[4:]
    ]
    return TuningProblem(
        method="linear_class_features",
        class_names=[f"c{c}" for c in range(p.num_classes)],
        patch_size=PATCH,
        train_bank=bank_of_pixels(pixels[:4], p.num_classes, PATCH),
        val_items=val_items,
        text=p.text,
        report_every=10,
    )


def tune(problem: TuningProblem, url: str, n_trials: int) -> optuna.Study:
    study = open_study(url, "toy/test/B1_seed0", SETTINGS)
    run_study(study, make_objective(problem, parse_search_space(SPACE)), n_trials)
    return study


def test_a_fixed_seed_gives_the_same_best_trial_twice(problem, tmp_path):
    a = tune(problem, sqlite_url(tmp_path / "a.db"), 6)
    b = tune(problem, sqlite_url(tmp_path / "b.db"), 6)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert (a.best_trial.number, a.best_trial.params, a.best_value) == (
        b.best_trial.number,
        b.best_trial.params,
        b.best_value,
    )
    assert 0 < a.best_value <= 100


def test_a_killed_tune_resumes_without_repeating_finished_trials(problem, tmp_path):
    url = sqlite_url(tmp_path / "study.db")
    first = [(t.number, t.params, t.value, t.state) for t in tune(problem, url, 3).trials]
    assert len(first) == 3
    # A worker killed mid-trial leaves a RUNNING trial behind: it is not a finished trial.
    open_study(url, "toy/test/B1_seed0", SETTINGS).ask()
    study = tune(problem, url, 6)
    assert finished_trials(study) == 6 and len(study.trials) == 7
    assert [(t.number, t.params, t.value, t.state) for t in study.trials[:3]] == first  # untouched
    resumed = [t.params for t in study.trials[4:]]
    assert all(p not in [f[1] for f in first] for p in resumed)  # the seeded start is not replayed
    assert run_study(study, make_objective(problem, parse_search_space(SPACE)), 6) == 0  # nothing left to do


def test_intermediate_values_are_reported_per_chunk_and_hopeless_trials_pruned(problem, tmp_path):
    study = open_study(
        sqlite_url(tmp_path / "p.db"), "p", StudySettings(sampler_seed=0, pruner_startup_trials=1, heartbeat_s=None)
    )
    space = {"lr": {"type": "categorical", "choices": [0.3, 1e-6]}, "steps": {"type": "int", "low": 40, "high": 40}}
    objective = make_objective(problem, parse_search_space(space))
    study.enqueue_trial({"lr": 0.3, "steps": 40})
    study.enqueue_trial({"lr": 1e-6, "steps": 40})  # learns nothing: below the median from step 10 on
    run_study(study, objective, 2)
    good, bad = study.trials
    assert sorted(good.intermediate_values) == [10, 20, 30, 40]
    assert bad.state == optuna.trial.TrialState.PRUNED and sorted(bad.intermediate_values) == [10]


def test_validation_miou_uses_the_test_metric(problem):
    method, _ = problem.build({"steps": 30, "lr": 0.1})
    perfect = lambda q: torch.nn.functional.one_hot(  # noqa: E731
        torch.zeros(len(q), dtype=torch.long), problem.train_bank.num_classes
    ).float()
    item = problem.val_items[0]
    constant = {**item, "label": torch.zeros_like(item["label"])}
    assert validation_miou(method, [constant], perfect) == 100.0
    assert 0 <= validation_miou(method, problem.val_items) <= 100


def test_search_space_is_typed():
    spaces = parse_search_space(SPACE)
    assert [s.name for s in spaces] == ["lr", "batch_size", "steps"] and spaces[0].log
    with pytest.raises(ConfigError, match="valid keys"):
        parse_search_space({"lr": {"type": "float", "low": 1e-3, "high": 1.0, "logscale": True}})
    with pytest.raises(ConfigError, match="log range"):
        parse_search_space({"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}})
    with pytest.raises(ConfigError, match="type"):
        parse_search_space({"lr": {"type": "floaty", "low": 0.0, "high": 1.0}})


def test_support_split_is_85_15_seeded_and_disjoint():
    ids = [f"img{i}" for i in range(20)]
    train, val = split_support(ids, 0.15, seed=1)
    assert len(val) == 3 and len(train) == 17 and not set(train) & set(val) and set(train) | set(val) == set(ids)
    assert split_support(ids, 0.15, seed=1) == (train, val) and split_support(ids, 0.15, seed=2) != (train, val)
    assert [len(part) for part in split_support(ids[:2], 0.15, seed=0)] == [1, 1]  # at least one on each side
    with pytest.raises(InputError, match="at least 2 support images"):
        split_support(ids[:1], 0.15, seed=0)


def test_dropped_classes_become_ignore_pixels():
    label = torch.tensor([[0, 1, 2], [2, 255, 1]])
    assert drop_label_classes(label, [2]).tolist() == [[0, 1, 255], [255, 255, 1]]
    assert drop_label_classes(label, []) is label


def test_a_study_stopped_and_resumed_reaches_the_same_best_as_an_uninterrupted_one(problem, tmp_path):
    whole = tune(problem, sqlite_url(tmp_path / "whole.db"), 6)
    url = sqlite_url(tmp_path / "resumed.db")
    tune(problem, url, 3)  # Ctrl-C after three trials, then the same command again
    resumed = tune(problem, url, 6)
    assert [t.params for t in resumed.trials] == [t.params for t in whole.trials]
    assert (resumed.best_trial.params, resumed.best_value) == (whole.best_trial.params, whole.best_value)


def test_sqlite_paths_with_url_characters_work(problem, tmp_path):
    folder = tmp_path / "50%_runs?#"
    url = sqlite_url(folder / "study.db")
    tune(problem, url, 1)
    assert (folder / "study.db").is_file()  # the file is where the path says, not cut at ? or %


def test_a_corrupt_study_file_is_named_with_the_fix(tmp_path):
    from rns_bench.core.errors import InputError

    path = tmp_path / "B1_seed100.db"
    path.write_bytes(b"not a database " * 100)
    with pytest.raises(InputError, match=f"storage {path} cannot be opened .*file is not a database.*move it aside"):
        open_study(sqlite_url(path), "s", SETTINGS)


def test_a_study_starts_at_the_rows_configured_values_inside_the_space():
    from rns_bench.tuning.study import configured_trial

    space = parse_search_space(SPACE)  # lr [1e-3, 0.5] log, batch_size {2, 4, 64}, steps 10..40 step 10
    assert configured_trial(space, {"lr": 0.01, "batch_size": 64, "steps": 30}) == {
        "lr": 0.01,
        "batch_size": 64,
        "steps": 30,
    }
    # outside the space, off its step, not a choice, or not configured: sampled instead
    assert configured_trial(space, {"lr": 2.0, "batch_size": 8, "steps": 35}) == {}
    assert configured_trial(space, {"steps": 20}) == {"steps": 20}


def test_the_configured_trial_is_trial_zero_of_a_fresh_study(problem, tmp_path):
    study = open_study(sqlite_url(tmp_path / "e.db"), "e", SETTINGS)
    study.enqueue_trial({"lr": 0.01, "batch_size": 4, "steps": 20})
    run_study(study, make_objective(problem, parse_search_space(SPACE)), 2)
    assert study.trials[0].params == {"lr": 0.01, "batch_size": 4, "steps": 20}
    assert study.trials[1].params != study.trials[0].params
