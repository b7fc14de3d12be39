"""A study on a cheap, deterministic objective (no features), shared by the resume tests and the worker
processes they start: ``python study_toys.py URL N_TRIALS [--kill-at K] [--sleep S] [--barrier DIR]``.

The objective reports intermediate values, so TPE (after 2 random trials) and the median pruner both
depend on the study's history: an interruption that shifted the history would show in the trials.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import optuna

from rns_bench.tuning.study import StudySettings, best_trial_summary, open_study
from rns_bench.tuning.workers import counted_trials, finished_trials, run_study

NAME = "toy/toy_vlm/full/linear_class_features/B1_seed0"
SETTINGS = StudySettings(sampler_seed=3, tpe_startup_trials=2, pruner_startup_trials=1, heartbeat_s=None)
HEARTBEAT = StudySettings(sampler_seed=3, tpe_startup_trials=2, pruner_startup_trials=1, heartbeat_s=60)
START = {"lr": 0.01, "batch_size": 4, "steps": 20}  # the row's configured values: trial 0


def objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-3, 0.5, log=True)
    batch_size = trial.suggest_categorical("batch_size", [2, 4, 64])
    steps = trial.suggest_int("steps", 10, 40, step=10)
    score = 100 - 30 * abs(math.log10(lr) + 1) - abs(steps - 30) / 2 - 5 * (batch_size == 64)
    for step in range(10, steps + 1, 10):
        trial.report(score * step / steps, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return score


def trials_of(study: optuna.Study, n_trials: int | None = None) -> list[tuple[Any, ...]]:
    """What must not change across an interruption: each counted trial's parameters, state, value and
    intermediate values (trial numbers may: a failed trial keeps its number)."""
    return [(t.params, t.state, t.value, t.intermediate_values) for t in counted_trials(study, n_trials)]


def best_of(study: optuna.Study, n_trials: int) -> dict[str, Any]:
    summary = best_trial_summary(study, n_trials)
    return {k: summary[k] for k in ("params", "value", "trial", "n_complete", "n_pruned")}


def uninterrupted(url: str, n_trials: int, settings: StudySettings = SETTINGS) -> optuna.Study:
    study = open_study(url, NAME, settings, START)
    run_study(study, objective, n_trials)
    return study


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("n_trials", type=int)
    parser.add_argument("--kill-at", type=int, default=None, help="SIGKILL this process inside that trial")
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds per trial")
    parser.add_argument("--barrier", type=Path, default=None, help="start once two workers are ready there")
    args = parser.parse_args(argv)

    def work(trial: optuna.Trial) -> float:
        value = objective(trial)
        time.sleep(args.sleep)
        if trial.number == args.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(args.url, NAME, HEARTBEAT, START)
    if args.barrier is not None:
        (args.barrier / str(os.getpid())).touch()
        while len(list(args.barrier.iterdir())) < 2:
            time.sleep(0.05)
    ran = run_study(study, work, args.n_trials, poll_s=0.1)
    print(f"ran={ran} finished={finished_trials(study)}")


if __name__ == "__main__":
    main(sys.argv[1:])
