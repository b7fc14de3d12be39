"""A study cut by Ctrl-C or kill -9 and resumed is the uninterrupted study; two workers on one study
count every trial once; n_trials < 1 is one line; a study shows one progress bar."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from optuna.trial import TrialState  # noqa: E402
from tuning.study_toys import (  # noqa: E402
    HEARTBEAT,
    NAME,
    SETTINGS,
    START,
    best_of,
    objective,
    trials_of,
    uninterrupted,
)

from rns_bench.core.errors import ConfigError  # noqa: E402
from rns_bench.tuning.study import StudySettings, best_trial_summary, open_study, sqlite_url  # noqa: E402
from rns_bench.tuning.workers import finished_trials, run_study  # noqa: E402

N = 8
TOYS = Path(__file__).with_name("study_toys.py")


def interrupt_at(k: int):
    """The objective, with Ctrl-C inside trial ``k`` after its parameters and a first report."""

    def cut(trial):
        if trial.number == k:
            trial.suggest_float("lr", 1e-3, 0.5, log=True)
            trial.report(1.0, 5)
            raise KeyboardInterrupt
        return objective(trial)

    return cut


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    return uninterrupted(sqlite_url(tmp_path_factory.mktemp("whole") / "study.db"), N)


def test_the_toy_study_is_a_real_test_of_resumption(whole):
    states = [t.state for t in whole.trials]
    assert len(states) == N and TrialState.PRUNED in states  # TPE and the pruner both read the history
    assert whole.trials[0].params == START
    assert best_trial_summary(whole, N)["same_as_uninterrupted"]


@pytest.mark.parametrize("k", [0, 3, 6])  # the enqueued configured trial, a random one, a TPE one
def test_ctrl_c_inside_a_trial_then_the_same_command_gives_the_uninterrupted_study(whole, tmp_path, k):
    url = sqlite_url(tmp_path / "study.db")
    study = open_study(url, NAME, SETTINGS, START)
    with pytest.raises(KeyboardInterrupt):
        run_study(study, interrupt_at(k), N)
    cut = study.trials[k]
    assert cut.state == TrialState.FAIL and cut.user_attrs["failed_because"] == "interrupted"
    assert finished_trials(study) == k and trials_of(study) == trials_of(whole, k)

    resumed = open_study(url, NAME, SETTINGS, START)  # the same command again
    assert run_study(resumed, objective, N) == N - k
    assert trials_of(resumed) == trials_of(whole)
    assert best_of(resumed, N) == best_of(whole, N)
    summary = best_trial_summary(resumed, N)
    assert summary["same_as_uninterrupted"] and summary["failed_trials"] == [{"trial": k, "why": "interrupted"}]
    assert len(resumed.trials) == N + 1  # the cut trial stays, failed; nothing else was added


def test_ctrl_c_outside_the_objective_leaves_no_running_trial_behind(whole, tmp_path):
    url = sqlite_url(tmp_path / "study.db")
    study = open_study(url, NAME, SETTINGS, START)
    run_study(study, objective, 3)
    study.ask()  # Ctrl-C after optuna created trial 3, before the objective ran: left RUNNING by this process
    resumed = open_study(url, NAME, SETTINGS, START)
    run_study(resumed, objective, N)
    assert resumed.trials[3].state == TrialState.FAIL and trials_of(resumed) == trials_of(whole)


def run_toys(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TOYS.parent.parent), *sys.path])}
    return subprocess.Popen(
        [sys.executable, str(TOYS), url, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("k", [0, 5])
def test_kill_9_mid_trial_then_the_same_command_gives_the_uninterrupted_study(whole, tmp_path, k):
    """A worker killed with SIGKILL leaves its trial RUNNING; the next run on this host sees its pid gone,
    fails the trial and draws (or, for the configured trial, enqueues) it again — without waiting out the
    heartbeat's grace period."""
    url = sqlite_url(tmp_path / "study.db")
    worker = run_toys(url, str(N), "--kill-at", str(k))
    _, err = worker.communicate(timeout=120)
    assert worker.returncode == -9, err
    left = optuna.load_study(study_name=NAME, storage=url).trials[k]
    assert left.state == TrialState.RUNNING and left.user_attrs["worker"]["pid"] == worker.pid

    resumed = open_study(url, NAME, HEARTBEAT, START)
    assert run_study(resumed, objective, N) == N - k
    assert trials_of(resumed) == trials_of(whole)
    assert best_of(resumed, N) == best_of(whole, N)
    summary = best_trial_summary(resumed, N)
    assert summary["same_as_uninterrupted"]
    assert summary["failed_trials"] == [{"trial": k, "why": f"its process (pid {worker.pid} on {os.uname()[1]}) died"}]


def test_two_workers_on_one_study_count_every_trial_once(tmp_path):
    """Not the uninterrupted study (their draws depend on timing), and said so; but exactly n_trials
    finished, each counted by the one worker that ran it, the configured trial once, and each worker
    returns only when the study is whole."""
    url = sqlite_url(tmp_path / "study.db")
    open_study(url, NAME, HEARTBEAT, START)  # created before the workers: both load it
    (tmp_path / "barrier").mkdir()
    workers = [run_toys(url, "6", "--sleep", "0.3", "--barrier", str(tmp_path / "barrier")) for _ in range(2)]
    outputs = [w.communicate(timeout=180) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err for _, err in outputs]
    ran = [int(out.split("ran=")[1].split()[0]) for out, _ in outputs]
    assert [out.split("finished=")[1].split()[0] for out, _ in outputs] == ["6", "6"]
    study = optuna.load_study(study_name=NAME, storage=url)
    assert sum(ran) == finished_trials(study) == 6 and min(ran) > 0
    assert [t.params for t in study.trials].count(START) == 1
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert all(t.user_attrs["failed_because"].startswith("not needed") for t in failed)  # never counted
    summary = best_trial_summary(study, 6)
    assert not summary["same_as_uninterrupted"] and "several processes" in summary["why_not_same"]


def test_fewer_trials_than_the_study_holds_report_the_first_ones(whole, tmp_path):
    short = uninterrupted(sqlite_url(tmp_path / "short.db"), 4)
    assert run_study(whole, objective, 4) == 0  # nothing to run: more than 4 are finished
    assert best_of(whole, 4) == best_of(short, 4) and trials_of(whole, 4) == trials_of(short)


@pytest.mark.parametrize("n_trials", [0, -3])
def test_a_study_of_no_trials_is_one_clear_error(tmp_path, n_trials):
    with pytest.raises(
        ConfigError,
        match=rf"tuning.n_trials={n_trials}: a study needs at least one trial; set "
        r"tuning.n_trials to a whole number ≥ 1",
    ):
        StudySettings(n_trials=n_trials)
    study = open_study(sqlite_url(tmp_path / "s.db"), NAME, SETTINGS)
    with pytest.raises(ConfigError, match=f"tuning.n_trials={n_trials}"):
        run_study(study, objective, n_trials)
    assert not study.trials


def test_a_study_shows_one_progress_bar_of_finished_trials_and_the_best_value(tmp_path, capsys):
    study = open_study(sqlite_url(tmp_path / "s.db"), NAME, SETTINGS, START)
    run_study(study, objective, 3, label="tune linear_class_features B=1 seed=0")
    err = capsys.readouterr().err
    best = max(t.value for t in study.trials if t.state == TrialState.COMPLETE)
    for done in range(4):
        assert f"| {done}/3 [" in err
    assert f"{best:.2f}" in err.rsplit("3/3", 1)[1].splitlines()[0]  # the best value beside the last count
    assert err.count("tune linear_class_features B=1 seed=0:") >= 4 and "/1 [" not in err  # one bar, not one per trial


def test_a_trial_running_on_another_host_without_heartbeats_is_counted_not_waited_for_and_said(tmp_path):
    """Without heartbeats a trial RUNNING on another host cannot be told from a dead one: it keeps its
    slot, this process does not wait for it, and the summary and the command's line say so."""
    from rns_bench.tuning.tune import describe

    study = open_study(sqlite_url(tmp_path / "s.db"), NAME, SETTINGS, START)
    run_study(study, objective, 2)
    elsewhere = study.ask()
    study._storage.set_trial_user_attr(elsewhere._trial_id, "worker", {"host": "elsewhere", "pid": 7, "started": 1})
    assert run_study(study, objective, 5) == 2  # 2 finished + 1 running elsewhere + 2 more = 5 taken
    summary = best_trial_summary(study, 5)
    assert summary["n_finished"] == 4 and summary["running_elsewhere"] == [2]
    assert not summary["same_as_uninterrupted"] and "running in another process" in summary["why_not_same"]
    line = describe(
        {
            **summary,
            "row": "r",
            "shots": 1,
            "seed": 0,
            "trials_run_now": 2,
            "seconds_now": 1.0,
            "n_trials": 5,
            "path": "p",
        }
    )
    assert "only 4 of 5 trials finished: trial(s) 2 run in a process this one cannot watch" in line
    assert "not the trials of an uninterrupted study" in line


def test_a_trial_another_worker_has_just_created_is_waited_for_until_it_is_stamped(monkeypatch):
    """The race behind a worker returning before the study was whole: a RUNNING trial whose process has
    not stamped its worker yet (the instant between creation and the sampler's before_trial)."""
    import rns_bench.tuning.workers as study_module

    study = optuna.create_study(direction="maximize")
    study.ask()  # RUNNING, no worker recorded yet
    (fresh,) = study.get_trials(states=(TrialState.RUNNING,))
    assert study_module._can_watch(study, fresh)  # wait for it: its worker stamps it next
    monkeypatch.setattr(study_module, "UNSTAMPED_GRACE_S", 0.0)
    assert not study_module._can_watch(study, fresh)  # never stamped: a process that died at once
