"""Running a study's trials to ``n_trials`` (paper supp. 6.4): which process owns which trial, its slot,
failing the trials of dead processes, and the run loop with its progress bar. What a resumed or shared
study then is: :mod:`rns_bench.tuning.study`. Needs neither torch nor a method.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import socket
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from tqdm.auto import tqdm

from rns_bench.core.errors import ConfigError

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # the only trials that count towards n_trials
# Trial user attributes: the process that ran it, whether that process sent heartbeats, its slot (place
# in an uninterrupted study), why it failed, and which failed trial an enqueued retry repeats.
WORKER, HEARTBEAT, SLOT = "worker", "heartbeat", "slot"
UNSTAMPED_GRACE_S = 60.0  # a RUNNING trial without its worker yet is being started, unless older than this
FAILED_BECAUSE, RETRY_OF = "failed_because", "retry_of"


def check_n_trials(n_trials: Any) -> int:
    """``n_trials`` when it is a whole number ≥ 1, else a :class:`ConfigError` naming it and the fix."""
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ConfigError(
            f"tuning.n_trials={n_trials}: a study needs at least one trial; set tuning.n_trials to a "
            "whole number ≥ 1 (configs/tuning/default.yaml: 10)"
        )
    return n_trials


# ------------------------------------------------------------- trials, slots and workers


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks after boot) of process ``pid`` (Linux ``/proc``); None
    where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def this_worker() -> dict[str, Any]:
    """The process running a trial, stored with it: host, pid, and the pid's start time (a reused pid
    is another process)."""
    stat = _proc_stat(os.getpid())
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": stat[1] if stat else None}


def worker_state(worker: Mapping[str, Any] | None) -> str:
    """``"this"`` (this process), ``"alive"``, ``"dead"`` (its process is gone) or ``"unknown"`` (another
    host, or a trial that records no worker): only a process on this host can be looked at."""
    if not worker or worker.get("host") != socket.gethostname():
        return "unknown"
    me = this_worker()
    if dict(worker) == me:
        return "this"
    pid = worker.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return "unknown"
    if pid == me["pid"]:
        return "dead"  # this pid, another start time: the process before this one
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:
        pass  # alive, another user's
    stat = _proc_stat(pid)
    if stat and (stat[0] == "Z" or (worker.get("started") is not None and stat[1] != worker["started"])):
        return "dead"
    return "alive"


def slot_of(study: optuna.Study, number: int) -> int:
    """Trial ``number``'s place in an uninterrupted study: the trials before it that finished or are
    still running (a failed trial gives its place up)."""
    taken = (*FINISHED, TrialState.RUNNING)
    return sum(t.number < number and t.state in taken for t in study.get_trials(deepcopy=False))


def counted_trials(study: optuna.Study, n_trials: int | None = None) -> list[optuna.trial.FrozenTrial]:
    """The first ``n_trials`` finished trials (all with None), in order: those a study of ``n_trials`` reports."""
    finished = sorted(study.get_trials(deepcopy=False, states=FINISHED), key=lambda t: t.number)
    return finished if n_trials is None else finished[:n_trials]


def finished_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def _heartbeat_s(study: optuna.Study) -> int | None:
    return getattr(study._storage, "get_heartbeat_interval", lambda: None)()


def _set_user_attrs(study: optuna.Study, trial: optuna.trial.FrozenTrial, attrs: Mapping[str, Any]) -> None:
    for key, value in attrs.items():  # optuna has no public setter on a FrozenTrial; its storage has one
        study._storage.set_trial_user_attr(trial._trial_id, key, value)


def stamp_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> int:
    """Record the process running ``trial``, whether it sends heartbeats, and its slot (:func:`slot_of`,
    returned) with the trial: first thing, so a kill -9 leaves them behind."""
    slot = slot_of(study, trial.number)
    _set_user_attrs(study, trial, {WORKER: this_worker(), HEARTBEAT: _heartbeat_s(study) is not None, SLOT: slot})
    return slot


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Enqueue a failed trial's enqueued parameters again (the row's configured values): it runs next.
    A sampled trial needs nothing: the sampler draws the same parameters again at the same slot."""
    fixed = trial.system_attrs.get("fixed_params")
    if fixed:
        study.enqueue_trial(fixed, user_attrs={RETRY_OF: trial.number})


def _fail(study: optuna.Study, trial: optuna.trial.FrozenTrial, why: str) -> bool:
    """Mark a RUNNING trial failed; False when another process finished or failed it first."""
    try:
        _set_user_attrs(study, trial, {FAILED_BECAUSE: why})
        return study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)  # row-locked: one wins
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def reclaim_dead_trials(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials whose process is gone — this process's own (it runs none between trials),
    another's on this host, or any whose heartbeat stopped (``heartbeat_s``) — and requeue their
    enqueued parameters; returns the numbers failed here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # a no-op without heartbeats; the storage's callback requeues
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER)
        state = worker_state(worker)
        if state == "this":
            why = "interrupted"
        elif state == "dead":
            why = f"its process (pid {worker['pid']} on {worker['host']}) died"
        else:
            continue
        if _fail(study, trial, why):
            requeue(study, trial)
            failed.append(trial.number)
    return failed


# ------------------------------------------------------------------------ running it


class _NotNeeded(Exception):
    """A trial started after other workers' trials had taken the last of n_trials (failed, not counted)."""


class _QuietFailures(logging.Filter):
    """Drop optuna's failed-trial warning (with its traceback) for a Ctrl-C or a trial that was not needed:
    :func:`run_study` handles both and the command says what happened."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, (KeyboardInterrupt, _NotNeeded))


@contextlib.contextmanager
def _quiet_failures() -> Any:
    logger = logging.getLogger("optuna.study._optimize")  # where optuna logs a failed trial
    quiet = _QuietFailures()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _can_watch(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a death of the process running ``trial`` would be noticed: it is on this host, or it sends
    heartbeats that this process checks."""
    worker = trial.user_attrs.get(WORKER)
    if worker is None and trial.datetime_start is not None:
        # just created by another process, which stamps it first thing (SlotSeededTPESampler.before_trial)
        return (datetime.datetime.now() - trial.datetime_start).total_seconds() < UNSTAMPED_GRACE_S
    beats = _heartbeat_s(study) is not None and trial.user_attrs.get(HEARTBEAT, False)
    return beats or worker_state(worker) == "alive"


def _show(bar: tqdm, study: optuna.Study, n_trials: int) -> list[optuna.trial.FrozenTrial]:
    """Update the study's progress bar (finished / n_trials, best value); returns the trials running elsewhere."""
    counted = counted_trials(study, n_trials)
    values = [t.value for t in counted if t.state == TrialState.COMPLETE]
    others = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    text = f"best {max(values):.2f}" if values else "no complete trial yet"
    if others:
        text += f"; {len(others)} running elsewhere (trial {', '.join(str(t.number) for t in others)})"
    bar.n = len(counted)
    bar.set_postfix_str(text, refresh=False)
    bar.refresh()  # one line per finished trial: trials take seconds, not milliseconds
    return others


@dataclass
class _Worker:
    """This process's part in running ``study`` to ``n_trials`` (:func:`run_study`)."""

    study: optuna.Study
    objective: Callable[[optuna.Trial], float]
    n_trials: int
    bar: tqdm
    running: dict[str, int] = field(default_factory=dict)  # the number of the trial running in this process
    ran: int = 0  # trials finished here

    def guarded(self, trial: optuna.Trial) -> float:
        """The objective, refused when the trial's slot is past ``n_trials``; a failure says why."""
        self.running["number"] = trial.number
        if slot_of(self.study, trial.number) >= self.n_trials:  # another worker took the last trial meanwhile
            trial.set_user_attr(FAILED_BECAUSE, "not needed: other workers' trials had filled n_trials")
            raise _NotNeeded
        try:
            return self.objective(trial)
        except optuna.TrialPruned:
            raise
        except BaseException as error:
            why = "interrupted" if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"
            trial.set_user_attr(FAILED_BECAUSE, why[:300])
            raise

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.ran += trial.state in FINISHED
        self.running.clear()
        others = _show(self.bar, study, self.n_trials)
        if finished_trials(study) + len(others) >= self.n_trials:
            study.stop()  # the rest is taken by other workers

    def step(self, poll_s: float) -> bool:
        """Fail dead trials, then run the trials left to run, or wait for other processes' trials; False
        once the study is whole (or the trials left run where their death would go unnoticed)."""
        study, n_trials = self.study, self.n_trials
        reclaim_dead_trials(study)
        others = _show(self.bar, study, n_trials)
        todo = n_trials - finished_trials(study) - len(others)
        if todo > 0:
            try:
                study.optimize(self.guarded, n_trials=todo, callbacks=[self.after_trial], catch=())
            except _NotNeeded:
                _settle(study, self.running)
        elif finished_trials(study) < n_trials and any(_can_watch(study, t) for t in others):
            time.sleep(poll_s)  # wait for them: if one dies, its trial is failed and run again here
        else:
            return False
        return True


def run_study(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    n_trials: int,
    *,
    label: str | None = None,
    poll_s: float = 2.0,
) -> int:
    """Run trials until ``n_trials`` are finished (complete or pruned); returns how many finished here.

    Failed trials never count. Trials of dead processes are failed first (:func:`reclaim_dead_trials`);
    trials that other live processes run count as taken, and this one waits for those whose death it
    would notice, so the study is whole when this returns. After an exception (Ctrl-C) the trial that
    was cut is failed and its enqueued parameters requeued before it propagates. A tqdm bar on stderr
    shows finished / n_trials and the best value.
    """
    check_n_trials(n_trials)
    bar = tqdm(total=n_trials, desc=label or study.study_name, unit="trial", leave=False, dynamic_ncols=True)
    worker = _Worker(study, objective, n_trials, bar)
    try:
        with _quiet_failures():
            while worker.step(poll_s):
                pass
            return worker.ran
    except BaseException:
        _settle(study, worker.running)
        raise
    finally:
        bar.close()


def _settle(study: optuna.Study, running: dict[str, int]) -> None:
    """After this process's trial stopped with an exception: requeue its enqueued parameters (optuna
    failed it), or fail it when it was left RUNNING (an interrupt outside the objective)."""
    number = running.pop("number", None)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if trial.number == number:
            requeue(study, trial)
    reclaim_dead_trials(study)
