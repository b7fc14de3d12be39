"""Optuna studies of one support set (paper supp. 6.4): search spaces, storage, the seeded sampler,
and what a study found; running trials to ``n_trials`` across interruptions is
``rns_bench.tuning.workers``. The objective (train on the support's train part, score on its validation
images) is ``rns_bench.tuning.objective``; neither module needs torch nor a method, so a worker process
starts fast.

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
import inspect
import sqlite3
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.tuning.workers import FAILED_BECAUSE, SLOT, check_n_trials, counted_trials, requeue, stamp_trial

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
        slot = stamp_trial(study, trial)
        seed = (self._base_seed + slot) % 2**32
        self._rng.rng.seed(seed)  # optuna 4–5 keep both random states here (pinned by the resume tests)
        self._random_sampler._rng.rng.seed(seed)
        super().before_trial(study, trial)


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
