"""Optuna studies of one support set (paper supp. 6.4): search spaces, storage, the seeded sampler,
running trials to ``n_trials`` across interruptions, and what a study found. The objective (train on
the support's train part, score on its validation images) is ``rns_bench.tuning.objective``; this
module needs neither torch nor a method, so a worker process starts fast.

A study lives in an SQL storage (default one SQLite file per run; any SQLAlchemy URL works, so
workers on several machines can share a study) and is resumable. Only finished (complete or
pruned) trials count towards ``n_trials``, and the tuned file reports the best of the first
``n_trials`` finished ones.

What a resumed study is: trial ``n`` is drawn by TPE from the finished trials before it, with the
random seed ``sampler_seed + slot`` (its place among the trials that finished or are running), so:

* **Exact**, one process at a time: after Ctrl-C (the cut trial is failed) or ``kill -9`` (its
  RUNNING trial is failed by the next run on this host, which sees its pid gone; on another host
  once its heartbeat is ``2 × heartbeat_s`` old), the same command again finishes the study with the
  same finished trials — parameters, values, pruning — and so the same best parameters as an
  uninterrupted study of the same ``n_trials``. A cut trial gives its slot up: a sampled one is drawn
  again there, an enqueued one (the row's configured values) is enqueued again and runs next. Only
  optuna's trial numbers differ (a failed trial keeps its number).
* **Not exact** with several processes at once (one RDB storage, or two commands on one file):
  each draws from the trials finished so far, which depends on timing. Then nothing is counted twice
  or lost: a trial starts only while fewer than ``n_trials`` are finished or running, a dead worker's
  trial is failed (not counted) and its slot run again, and a process returns only when
  ``n_trials`` are finished (it waits for the others' trials whose death it would notice: on this
  host, or with heartbeats). Without heartbeats, a trial left RUNNING by a process on another host
  cannot be told from a live one: it keeps its slot, and the study may end short of ``n_trials``.

The tuned file and the command say which case a study is (``same_as_uninterrupted``,
``why_not_same``, ``failed_trials``: :func:`best_trial_summary`).
"""

from __future__ import annotations

import contextlib
import datetime
import inspect
import logging
import os
import socket
import sqlite3
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from tqdm.auto import tqdm

from rns_bench.core.errors import ConfigError, InputError

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # the only trials that count towards n_trials
# Trial user attributes: the process that ran it, whether that process sent heartbeats, its slot (place
# in an uninterrupted study), why it failed, and which failed trial an enqueued retry repeats.
WORKER, HEARTBEAT, SLOT = "worker", "heartbeat", "slot"
UNSTAMPED_GRACE_S = 60.0  # a RUNNING trial without its worker yet is being started, unless older than this
FAILED_BECAUSE, RETRY_OF = "failed_because", "retry_of"
PARAM_TYPES = ("float", "int", "categorical")

# ------------------------------------------------------------------------ search space


@dataclass(frozen=True)
class ParamSpace:
    """One searched option: ``float`` / ``int`` in [low, high] (``log``, ``step``) or ``categorical``."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ConfigError(f"search space {self.name!r}: type {self.type!r} unknown; choose one of {PARAM_TYPES}")
        if self.type == "categorical":
            if not self.choices:
                raise ConfigError(f"search space {self.name!r}: a categorical parameter needs choices")
        elif self.low is None or self.high is None or not self.low <= self.high:
            raise ConfigError(f"search space {self.name!r}: needs low ≤ high (got {self.low}, {self.high})")
        elif self.log and self.low <= 0:
            raise ConfigError(f"search space {self.name!r}: a log range needs low > 0")

    @classmethod
    def from_dict(cls, name: str, spec: Mapping[str, Any]) -> ParamSpace:
        """From a config mapping (``{type, low, high, log, step}`` or ``{type: categorical, choices}``)."""
        valid = {"type", "low", "high", "log", "step", "choices"}
        unknown = sorted(set(spec) - valid)
        if unknown:
            raise ConfigError(f"search space {name!r}: unknown key(s) {unknown}; valid keys: {sorted(valid)}")
        return cls(name=name, **{**spec, "choices": tuple(spec.get("choices") or ())})

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), step=self.step, log=self.log)


def configured_trial(space: Sequence[ParamSpace], options: Mapping[str, Any]) -> dict[str, Any]:
    """The row's configured values of the searched options that lie in their space (the first trial
    of a study, so tuning never scores below the untuned row on validation); the rest are sampled."""
    params = {}
    for param in space:
        value = options.get(param.name)
        if value is None or isinstance(value, bool):
            continue
        if param.type == "categorical":
            if value in param.choices:
                params[param.name] = value
            continue
        inside = param.low <= value <= param.high
        steps = (value - param.low) / param.step if param.step else 0.0
        on_step = abs(steps - round(steps)) < 1e-9
        if inside and on_step and (param.type == "float" or float(value).is_integer()):
            params[param.name] = value
    return params


def parse_search_space(spec: Mapping[str, Mapping[str, Any]]) -> list[ParamSpace]:
    """``{option: {type, ...}}`` → the searched options, in config order."""
    if not spec:
        raise ConfigError("empty search space: name at least one option to tune")
    return [ParamSpace.from_dict(name, dict(s)) for name, s in spec.items()]


# --------------------------------------------------------------------------- the study


@dataclass(frozen=True)
class StudySettings:
    """Sampler seed, pruner and storage of a study (``configs/tune.yaml``)."""

    n_trials: int = 20
    sampler_seed: int = 0
    tpe_startup_trials: int = 10  # random trials before TPE models the results
    pruner: bool = True
    pruner_startup_trials: int = 5
    pruner_warmup_steps: int = 0
    heartbeat_s: int | None = 60  # a killed worker's RUNNING trial is marked FAIL after 2 × this

    def __post_init__(self) -> None:
        check_n_trials(self.n_trials)
        if self.heartbeat_s is not None and (isinstance(self.heartbeat_s, bool) or self.heartbeat_s <= 0):
            raise ConfigError(
                f"tuning.heartbeat_s={self.heartbeat_s}: give seconds > 0 between heartbeats, or null to turn them off"
            )


def check_n_trials(n_trials: Any) -> int:
    """``n_trials`` when it is a whole number ≥ 1, else a :class:`ConfigError` naming it and the fix."""
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ConfigError(
            f"tuning.n_trials={n_trials}: a study needs at least one trial; set tuning.n_trials to a "
            "whole number ≥ 1 (configs/tuning/default.yaml: 10)"
        )
    return n_trials


def sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of a SQLite file (created with its folder on first use); built with ``URL.create``,
    so ``%``, ``?`` or ``#`` in the path are escaped, not read as URL syntax."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def check_storage(storage_url: str) -> None:
    """Fail now, naming the file, when a SQLite study file exists but is not a database (a run about to
    tune must not find out after its features were extracted)."""
    url = make_url(storage_url)
    if url.get_backend_name() != "sqlite" or not url.database or not Path(url.database).is_file():
        return
    try:
        with contextlib.closing(sqlite3.connect(url.database)) as connection:
            connection.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as error:
        raise InputError(
            f"the Optuna study storage {url.database} cannot be opened (DatabaseError: {error}); "
            "if it is a corrupt SQLite file, move it aside and tune again"
        ) from None


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


class SlotSeededTPESampler(optuna.samplers.TPESampler):
    """TPE whose random state at each trial is a function of (seed, slot) alone (:func:`slot_of`).

    TPE is otherwise deterministic given the finished trials, and a failed trial is not one of them:
    a study resumed after an interruption draws exactly the trials an uninterrupted one would (the cut
    trial's parameters again, at its slot). Each trial is stamped with its worker and slot on the way.
    """

    def __init__(self, seed: int, **options: Any):
        super().__init__(seed=seed, **options)
        self._base_seed = seed

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        slot = slot_of(study, trial.number)
        _set_user_attrs(
            study, trial, {WORKER: this_worker(), HEARTBEAT: _heartbeat_s(study) is not None, SLOT: slot}
        )  # first thing: a kill -9 leaves them behind
        seed = (self._base_seed + slot) % 2**32
        self._rng.rng.seed(seed)  # optuna 4–5 keep both random states here (pinned by the resume tests)
        self._random_sampler._rng.rng.seed(seed)
        super().before_trial(study, trial)


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


def _serialize_sqlite(engine: Engine) -> None:
    """Make every SQLite transaction take the write lock first (``BEGIN IMMEDIATE``; SQLAlchemy's recipe
    for pysqlite). SQLite has no row locks — optuna's ``SELECT ... FOR UPDATE`` is a no-op there — so two
    processes on one study file could otherwise both pop the same enqueued trial, or both fail one."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the listeners would still begin lazily


def open_study(
    storage_url: str, study_name: str, settings: StudySettings, first_params: Mapping[str, Any] | None = None
) -> optuna.Study:
    """Create or load the study, with a :class:`SlotSeededTPESampler` and a median pruner.

    ``first_params`` (the row's configured values) are enqueued as trial 0 by the process that creates
    the study, so two workers starting together enqueue it once. A file that is not an Optuna database
    is named with the fix.
    """
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in optuna 4–5; they work as documented
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            heartbeat = {}
            if settings.heartbeat_s:
                stale = (
                    "heartbeat_stale_trial_callback"  # optuna ≥ 4.9; failed_trial_callback before
                    if "heartbeat_stale_trial_callback" in inspect.signature(optuna.storages.RDBStorage).parameters
                    else "failed_trial_callback"
                )
                heartbeat = {
                    "heartbeat_interval": settings.heartbeat_s,
                    "grace_period": 2 * settings.heartbeat_s,
                    stale: requeue,
                }
            storage = optuna.storages.RDBStorage(storage_url, **heartbeat)
        _serialize_sqlite(storage.engine)
        pruner = (
            optuna.pruners.MedianPruner(
                n_startup_trials=settings.pruner_startup_trials, n_warmup_steps=settings.pruner_warmup_steps
            )
            if settings.pruner
            else optuna.pruners.NopPruner()
        )
        sampler = SlotSeededTPESampler(settings.sampler_seed, n_startup_trials=settings.tpe_startup_trials)
        try:
            study = optuna.create_study(
                storage=storage, study_name=study_name, direction="maximize", sampler=sampler, pruner=pruner
            )
            created = True
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(storage=storage, study_name=study_name, sampler=sampler, pruner=pruner)
            created = False
    except SQLAlchemyError as error:
        where = make_url(storage_url)
        target = where.database if where.get_backend_name() == "sqlite" else where.render_as_string()
        raise InputError(
            f"the Optuna study storage {target} cannot be opened ({type(error.orig or error).__name__}: "
            f"{str(error.orig or error).splitlines()[0]}); if it is a corrupt SQLite file, move it "
            "aside and tune again"
        ) from None
    if first_params and created:
        study.enqueue_trial(dict(first_params))
    return study


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
    running: dict[str, int] = {}  # the number of the trial running in this process
    ran = 0

    def guarded(trial: optuna.Trial) -> float:
        running["number"] = trial.number
        if slot_of(study, trial.number) >= n_trials:  # another worker took the last trial meanwhile
            trial.set_user_attr(FAILED_BECAUSE, "not needed: other workers' trials had filled n_trials")
            raise _NotNeeded
        try:
            return objective(trial)
        except optuna.TrialPruned:
            raise
        except BaseException as error:
            why = "interrupted" if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"
            trial.set_user_attr(FAILED_BECAUSE, why[:300])
            raise

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal ran
        ran += trial.state in FINISHED
        running.clear()
        others = _show(bar, study, n_trials)
        if finished_trials(study) + len(others) >= n_trials:
            study.stop()  # the rest is taken by other workers

    bar = tqdm(total=n_trials, desc=label or study.study_name, unit="trial", leave=False, dynamic_ncols=True)
    try:
        with _quiet_failures():
            while True:
                reclaim_dead_trials(study)
                others = _show(bar, study, n_trials)
                todo = n_trials - finished_trials(study) - len(others)
                if todo > 0:
                    try:
                        study.optimize(guarded, n_trials=todo, callbacks=[after_trial], catch=())
                    except _NotNeeded:
                        _settle(study, running)
                elif finished_trials(study) < n_trials and any(_can_watch(study, t) for t in others):
                    time.sleep(poll_s)  # wait for them: if one dies, its trial is failed and run again here
                else:
                    return ran
    except BaseException:
        _settle(study, running)
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


# ----------------------------------------------------------------------- what it found


def why_not_replayed(study: optuna.Study, n_trials: int | None = None) -> str | None:
    """None when the counted trials are those one uninterrupted process draws with these settings (each
    drawn at its place among the finished trials, after all of those had finished); else why not."""
    counted, done = counted_trials(study, n_trials), None
    for place, trial in enumerate(counted):
        if trial.user_attrs.get(SLOT) is None:
            return f"trial {trial.number} records no slot (run by an older rns-bench or outside run_study)"
        if trial.user_attrs[SLOT] != place:
            return (
                f"trial {trial.number} was drawn while a trial before it was running in another process "
                "(several processes tuned the study at once)"
            )
        if done is not None and trial.datetime_start < done:
            return (
                f"trial {trial.number} started before the trials before it had finished (several processes "
                "tuned the study at once)"
            )
        done = max(done or trial.datetime_complete, trial.datetime_complete)
    return None


def best_trial_summary(study: optuna.Study, n_trials: int | None = None) -> dict[str, Any]:
    """The best complete trial among the first ``n_trials`` finished ones (all with None) as plain data:
    params, value, ``trial`` (its place among the finished trials, as an uninterrupted study numbers it),
    ``study_trial`` (optuna's number), the trial counts, the failed trials, those still running in other
    processes, and whether the trials are those of an uninterrupted study (``same_as_uninterrupted``, else
    ``why_not_same``)."""
    counted = counted_trials(study, n_trials)
    complete = [t for t in counted if t.state == TrialState.COMPLETE]
    if not complete:
        raise InputError(f"study {study.study_name!r} has no complete trial; every trial was pruned or failed")
    best = max(complete, key=lambda t: t.value)  # the first of equal values
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    why_not = why_not_replayed(study, n_trials)
    return {
        "params": dict(best.params),
        "value": best.value,
        "trial": counted.index(best),
        "study_trial": best.number,
        "n_finished": len(counted),
        "n_complete": len(complete),
        "n_pruned": len(counted) - len(complete),
        "failed_trials": [
            {"trial": t.number, "why": t.user_attrs.get(FAILED_BECAUSE, "its heartbeat stopped")} for t in failed
        ],
        "running_elsewhere": [t.number for t in running],
        "same_as_uninterrupted": why_not is None,
        "why_not_same": why_not,
    }
