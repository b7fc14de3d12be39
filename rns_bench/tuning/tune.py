"""``python -m rns_bench.tuning``: tune every (method row, shots, seed) of a dataset.

The keys are the bench's (``configs/bench.yaml``: dataset, backbone, methods, shots, seeds,
protocol, results_dir, ...) plus ``tuning.*`` (``configs/tuning/default.yaml``: trials, sampler
seed, pruner, search spaces, storage). One study per run key; the best parameters land next to the run's record
path, where ``rns_bench.runs.plan.tuned_options`` finds them when the bench runs.

Ctrl-C or ``kill -9`` and the same command again give the same tuned file as an uninterrupted run;
several processes on one study do not (``rns_bench.tuning.study`` says what holds then). The command
says which, after an interruption and in each study's line.
"""

from __future__ import annotations

import sys
import time
import warnings
import zlib
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from rns_bench.core.errors import ConfigError
from rns_bench.methods import SegMethod, load_methods
from rns_bench.ops.resize import PIXEL_PIPELINE
from rns_bench.runs.config import MethodRow, RunConfig, TuningConfig, method_rows, sweep_protocol
from rns_bench.runs.context import RunContext, build_context
from rns_bench.runs.key import RunKey
from rns_bench.runs.plan import tuning_fingerprint_of, write_best_params
from rns_bench.runs.support import adapted_context, evaluation_items, partial_support, support_images, support_of
from rns_bench.support.pixels import split_support
from rns_bench.tuning.objective import TuningProblem, make_objective
from rns_bench.tuning.study import (
    StudySettings,
    best_trial_summary,
    check_storage,
    configured_trial,
    open_study,
    parse_search_space,
    sqlite_url,
    why_not_replayed,
)
from rns_bench.tuning.workers import counted_trials, run_study


def storage_url(tuning: TuningConfig, key: RunKey) -> str:
    """``tuning.storage`` (one SQL database for every study, e.g. shared by several machines), else
    one SQLite file per run under ``tuning.dir``."""
    if tuning.storage:
        return str(tuning.storage)
    return sqlite_url(key.study_db(Path(tuning.dir)))


def split_seed(tuning: TuningConfig, key: RunKey) -> int:
    """Seed of the train / validation split: fixed per (split_seed, support seed) and the same for
    every method row, so all rows are tuned on the same validation images."""
    return zlib.crc32(f"{tuning.split_seed}:{key.dataset}:{key.shots}:{key.seed}".encode())


def study_settings(tuning: TuningConfig) -> StudySettings:
    """``tuning.*`` as study settings; a :class:`ConfigError` (one line) for ``n_trials`` < 1 and the like."""
    pruner = tuning.pruner
    return StudySettings(
        n_trials=tuning.n_trials,
        sampler_seed=int(tuning.sampler_seed),
        tpe_startup_trials=int(tuning.tpe_startup_trials),
        pruner=bool(pruner["enabled"]),
        pruner_startup_trials=int(pruner["n_startup_trials"]),
        pruner_warmup_steps=int(pruner["n_warmup_steps"]),
        heartbeat_s=int(tuning.heartbeat_s) if tuning.heartbeat_s else None,
    )


def tuning_problem(
    run: RunConfig, context: RunContext, row: MethodRow, key: RunKey, train_ids: list[str], val_ids: list[str]
) -> TuningProblem:
    """Train support (with the protocol's dropped classes) and validation items of one run."""
    partial = partial_support(run.protocol, len(context.class_names), key.seed)
    method_cls = load_methods().get(row.method)

    def support_and_validation(under: RunContext):
        """(train bank, train pixels, validation items) with ``under``'s encoder, as a run gets them."""
        bank, pixels = support_of(under, train_ids, partial, method_cls.needs_support_pixels)
        return bank, pixels, evaluation_items(under, val_ids)

    if method_cls.needs_support_images:  # finetuning: every trial has its own encoder, nothing shared
        images, labels = support_images(context, train_ids, partial.no_images)  # read once for all trials
        bank, pixels, val_items = None, None, []

        def adapted_support(method: SegMethod):
            """A trial's support and validation under the encoder it finetuned on the train images."""
            return support_and_validation(adapted_context(method, context, images, labels))
    else:
        bank, pixels, val_items = support_and_validation(context)
        adapted_support = None
    return TuningProblem(
        method=row.method,
        class_names=context.class_names,
        patch_size=context.backbone.patch_size,
        train_bank=bank,
        val_items=val_items,
        text=context.text_features,
        text_available=partial.text_available,
        train_pixels=pixels,
        options=dict(row.options),
        report_every=int(run.tuning.report_every),
        adapted_support=adapted_support,
    )


def tune_one(run: RunConfig, context: RunContext, row: MethodRow, key: RunKey, fingerprint: str) -> dict[str, Any]:
    """Run (or resume) the study of one run key under the tuning config ``fingerprint``
    (``rns_bench.runs.plan.tuning_fingerprint_of``) and write its best parameters; returns them."""
    tuning, spaces = run.tuning, run.tuning.search_space
    if row.row not in spaces:
        raise ConfigError(
            f"no search space for method row {row.row!r} in configs/tuning/default.yaml "
            f"(tuning.search_space: {', '.join(sorted(spaces)) or 'none'})"
        )
    space = parse_search_space(spaces[row.row])
    split = context.support_split(key.shots, key.seed)
    train_ids, val_ids = split_support(split.image_ids, float(tuning.val_fraction), split_seed(tuning, key))
    problem = tuning_problem(run, context, row, key, train_ids, val_ids)
    url = storage_url(tuning, key)
    settings = study_settings(tuning)
    n_trials = settings.n_trials
    start = configured_trial(space, row.options) if tuning.enqueue_defaults else None
    study = open_study(url, key.study_name(fingerprint), settings, start)  # a fresh study starts at `start`
    resumed = any(t.state != TrialState.WAITING for t in study.get_trials(deepcopy=False))
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():  # Lightning's per-trial notes (finetuning) would bury the progress
            warnings.filterwarnings("ignore", module="lightning")
            ran = run_study(
                study, make_objective(problem, space), n_trials, label=f"tune {row.row} B={key.shots} seed={key.seed}"
            )
    except KeyboardInterrupt:
        print(interrupted_note(study, n_trials, make_url(url).render_as_string(hide_password=True)), file=sys.stderr)
        raise
    payload = {
        **best_trial_summary(study, n_trials),
        "resumed": resumed,
        **_run_fields(row, key, split.sha256, train_ids, val_ids),
        "objective": "validation mIoU (DatasetIoU, patch queries) of the support's held-out images",
        "search_space": spaces[row.row],
        "n_trials": n_trials,
        "sampler_seed": int(tuning.sampler_seed),
        "pixel_pipeline": PIXEL_PIPELINE,
        "tuning_fingerprint": fingerprint,
        "study_name": study.study_name,
        "storage": make_url(url).render_as_string(hide_password=True),
        "trials_run_now": ran,
        "seconds_now": round(time.perf_counter() - started, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = key.tuned_path(run.results_dir, fingerprint)
    write_best_params(path, payload)
    return {**payload, "path": str(path)}


def _run_fields(
    row: MethodRow, key: RunKey, split_sha256: str, train_ids: list[str], val_ids: list[str]
) -> dict[str, Any]:
    """What a tuned file says of its run: row, method, options, run key and the support's train / val split."""
    return {
        "row": row.row,
        "method": row.method,
        "row_options": row.options,
        "dataset": key.dataset,
        "backbone": key.backbone,
        "protocol": key.protocol,
        "shots": key.shots,
        "seed": key.seed,
        "support_split_sha256": split_sha256,
        "train_ids": train_ids,
        "val_ids": val_ids,
    }


def interrupted_note(study: optuna.Study, n_trials: int, where: str) -> str:
    """What an interrupted study keeps, and what running the command again gives (checked, not assumed)."""
    kept = len(counted_trials(study, n_trials))
    why_not = why_not_replayed(study, n_trials)
    others = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if why_not is None and not others:
        then = (
            "it finishes the same trials, with the same values, as an uninterrupted study of "
            f"{n_trials} trials, and so writes the same best parameters (trials are seeded: bit for bit on "
            "CPU; a GPU's non-deterministic kernels can move a value as they would in an uninterrupted run)"
        )
    else:
        why_not = why_not or f"{len(others)} trial(s) are running in other processes"
        then = f"it finishes {n_trials} trials, but not those an uninterrupted study draws: {why_not}"
    return (
        f"\ninterrupted: the study {study.study_name} ({where}) keeps its {kept} finished trials of {n_trials}; "
        f"a trial cut short is marked failed and does not count. Run the same command again to resume: {then}"
    )


def describe(summary: dict[str, Any]) -> str:
    """One line per tuned run: best value, trial counts, speed, where the parameters went, and whether the
    trials are those of an uninterrupted study when the study was interrupted or shared."""
    per_trial = summary["seconds_now"] / summary["trials_run_now"] if summary["trials_run_now"] else 0
    line = (
        f"{summary['row']} B={summary['shots']} seed={summary['seed']}: best val mIoU {summary['value']:.2f} "
        f"(trial {summary['trial']}, {summary['n_complete']} complete, {summary['n_pruned']} pruned; "
        f"{summary['trials_run_now']} run now, {per_trial:.2f} s/trial) {summary['params']} → {summary['path']}"
    )
    if summary["n_finished"] < summary["n_trials"]:
        running = ", ".join(str(n) for n in summary["running_elsewhere"])
        line += (
            f"; only {summary['n_finished']} of {summary['n_trials']} trials finished: trial(s) {running} "
            "run in a process this one cannot watch (another host, no heartbeats); if that process is gone, "
            "fail them (optuna's study.tell(number, state=TrialState.FAIL)) and tune again"
        )
    if not summary["same_as_uninterrupted"]:
        return f"{line}; not the trials of an uninterrupted study: {summary['why_not_same']}"
    if summary["failed_trials"]:
        return (
            f"{line}; {len(summary['failed_trials'])} trial(s) cut short and run again, drawn as an "
            "uninterrupted study draws them"
        )
    return line


def run_tuning(run: RunConfig) -> list[dict[str, Any]]:
    """Tune every (row, shots, seed) of the validated config ``run``; returns one summary per run key."""
    study_settings(run.tuning)  # tuning.n_trials and the like, before any feature is extracted
    rows = method_rows(run)
    context = build_context(run)
    protocol = sweep_protocol(run)
    keys = [
        (row, RunKey(context.spec.key, run.backbone_name, protocol, row.row, int(shots), int(seed)))
        for row in rows
        for shots in run.shots
        for seed in run.seeds_for(context.support_spec)
    ]
    for _, key in keys:  # a corrupt study file is named before any feature is extracted
        check_storage(storage_url(run.tuning, key))
    summaries = []
    for row, key in keys:
        summary = tune_one(run, context, row, key, tuning_fingerprint_of(run, context, row, key))
        print(describe(summary))
        summaries.append(summary)
    return summaries
