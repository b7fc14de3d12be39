"""Optuna tuning of one support set (paper supp. 6.4): search spaces, the objective, the study.

The objective trains the method on the train part of the support set and returns the
validation mIoU (``DatasetIoU``, as the test metric) on the held-out support images. Methods
with a ``fit_head(report, report_every)`` (the offline linear baselines) report the validation
mIoU every ``report_every`` iterations, so a ``MedianPruner`` can stop hopeless trials early;
finetuning (``needs_support_images``) trains the encoder inside Lightning's ``fit`` and is
scored once, on validation features re-extracted with the trial's finetuned encoder.

A study lives in an SQL storage (default one SQLite file per run; any SQLAlchemy URL works, so
workers on several machines can share a study) and is resumable: a restarted ``tune`` loads
it, counts the finished trials and runs only the remainder.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.methods import SegMethod, build_method
from rns_bench.metrics import DatasetIoU
from rns_bench.support.bank import SupportBank
from rns_bench.support.pixels import SupportPixels

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # what counts towards n_trials
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


# ---------------------------------------------------------------------- the objective


AdaptedSupport = Callable[[SegMethod], tuple[SupportBank, list[SupportPixels], list[dict[str, Any]]]]
"""For methods with ``needs_support_images``: adapt the encoder through the built method on the
train images, then return (train bank, train pixels, validation items) under that encoder."""


@dataclass
class TuningProblem:
    """What one support set's trials share: the method row, train support and validation items.

    train_bank / train_pixels: support from the train images (pixels only for methods with
    ``needs_support_pixels``); val_items: dicts shaped like test items (``features`` (h, w, D),
    ``resized_hw``, ``label`` (H, W) original resolution); adapted_support: replaces all three
    per trial for methods that adapt the encoder (finetuning; their train_bank is then None).
    """

    method: str
    class_names: list[str]
    patch_size: int
    train_bank: SupportBank | None
    val_items: list[dict[str, Any]]
    text: torch.Tensor | None = None
    text_available: torch.Tensor | None = None
    train_pixels: list[SupportPixels] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    report_every: int = 0  # iterations between intermediate values (0: none)
    adapted_support: AdaptedSupport | None = None

    def build(self, params: Mapping[str, Any]) -> tuple[SegMethod, list[dict[str, Any]]]:
        """The method with the row's options and ``params`` on top, given the train support, and
        the validation items to score it on."""
        method = build_method(self.method, self.class_names, self.patch_size, {**self.options, **params},
                              query_mode="patch")  # tuning runs without mask proposals (supp. 6.4)
        bank, pixels, val_items = self.train_bank, self.train_pixels, self.val_items
        if method.needs_support_images:
            if self.adapted_support is None:
                raise InputError(f"method {self.method!r} adapts the encoder to its support images; "
                                 "the tuning problem has no adapted_support")
            bank, pixels, val_items = self.adapted_support(method)
        method.attach_support(bank, self.text, self.text_available)
        if method.needs_support_pixels:
            if pixels is None:
                raise InputError(f"method {self.method!r} trains on support pixels; the tuning problem has none")
            method.attach_support_pixels(pixels)
        return method, val_items


def validation_miou(method: SegMethod, items: Sequence[dict[str, Any]],
                    predict: Callable[[torch.Tensor], torch.Tensor] | None = None) -> float:
    """Dataset-level mIoU of ``method`` on ``items`` (``predict``: (N, D) → (N, K) probabilities,
    default the method's own ``predict_probs``)."""
    metric = DatasetIoU(method.num_classes)
    for item in items:
        queries = method.queries_of(item)
        probs = predict(queries) if predict is not None else method.predict_probs([queries], [item["image_id"]])[0]
        metric.update(method.label_map_of(item, probs), item["label"])
    miou = float(metric.compute()["mIoU"])
    return 0.0 if math.isnan(miou) else miou


def make_objective(problem: TuningProblem, space: Sequence[ParamSpace]) -> Callable[[optuna.Trial], float]:
    """Optuna objective: validation mIoU of the method trained with the trial's parameters."""

    def objective(trial: optuna.Trial) -> float:
        method, val_items = problem.build({p.name: p.suggest(trial) for p in space})
        fit_head = getattr(method, "fit_head", None)
        if fit_head is not None and problem.report_every > 0 and not method.needs_support_images:
            def report(step: int, head: Any) -> None:
                trial.report(validation_miou(method, val_items, head.probs), step)
                if trial.should_prune():
                    raise optuna.TrialPruned()

            fit_head(report, problem.report_every)
        return validation_miou(method, val_items)

    return objective


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


def sqlite_url(path: Path) -> str:
    """SQLAlchemy URL of a SQLite file (created with its folder on first use); built with ``URL.create``,
    so ``%``, ``?`` or ``#`` in the path are escaped, not read as URL syntax."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


class TrialSeededTPESampler(optuna.samplers.TPESampler):
    """TPE whose random state at each trial is a function of (seed, trial number) alone, so a study
    resumed after an interruption draws exactly the trials an uninterrupted one would (TPE is otherwise
    deterministic given the finished trials)."""

    def __init__(self, seed: int, **options: Any):
        super().__init__(seed=seed, **options)
        self._base_seed = seed

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        seed = (self._base_seed + trial.number) % 2**32
        self._rng.rng.seed(seed)  # optuna 4–5 keep both random states here (pinned by the resume test)
        self._random_sampler._rng.rng.seed(seed)
        super().before_trial(study, trial)


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
        raise InputError(f"the Optuna study storage {url.database} cannot be opened (DatabaseError: {error}); "
                         "if it is a corrupt SQLite file, move it aside and tune again") from None


def open_study(storage_url: str, study_name: str, settings: StudySettings) -> optuna.Study:
    """Create or load (``load_if_exists``) the study, with a TPE sampler and a median pruner.

    Trial ``n`` samples with the seed ``sampler_seed + n`` (:class:`TrialSeededTPESampler`): a resumed
    study reaches the same trials, and so the same best parameters, as an uninterrupted one. A file
    that is not an Optuna database is named with the fix.
    """
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in optuna 4–5; they work as documented
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                storage_url, heartbeat_interval=settings.heartbeat_s,
                grace_period=2 * settings.heartbeat_s if settings.heartbeat_s else None)
        pruner = (optuna.pruners.MedianPruner(n_startup_trials=settings.pruner_startup_trials,
                                              n_warmup_steps=settings.pruner_warmup_steps)
                  if settings.pruner else optuna.pruners.NopPruner())
        study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize",
                                    load_if_exists=True, pruner=pruner)
    except SQLAlchemyError as error:
        where = make_url(storage_url)
        target = where.database if where.get_backend_name() == "sqlite" else where.render_as_string()
        raise InputError(f"the Optuna study storage {target} cannot be opened ({type(error.orig or error).__name__}: "
                         f"{str(error.orig or error).splitlines()[0]}); if it is a corrupt SQLite file, move it "
                         "aside and tune again") from None
    study.sampler = TrialSeededTPESampler(settings.sampler_seed, n_startup_trials=settings.tpe_startup_trials)
    return study


def finished_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def run_study(study: optuna.Study, objective: Callable[[optuna.Trial], float], n_trials: int) -> int:
    """Run trials until ``n_trials`` are finished (complete or pruned); returns how many ran here.

    ``MaxTrialsCallback`` stops this worker when other workers on the same storage have
    filled the budget meanwhile.
    """
    remaining = n_trials - finished_trials(study)
    if remaining <= 0:
        return 0
    before = len([t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING])  # not enqueued ones
    study.optimize(objective, n_trials=remaining, callbacks=[MaxTrialsCallback(n_trials, states=FINISHED)],
                   catch=())
    return len(study.trials) - before


def best_trial_summary(study: optuna.Study) -> dict[str, Any]:
    """The best complete trial as plain data (params, value, number) plus trial counts."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise InputError(f"study {study.study_name!r} has no complete trial; every trial was pruned or failed")
    best = study.best_trial
    return {"params": dict(best.params), "value": best.value, "trial": best.number,
            "n_complete": len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))),
            "n_pruned": len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)))}
