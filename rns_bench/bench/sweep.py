"""A benchmark sweep: every (method row, shots, seed) of one dataset, one record per run."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from omegaconf import DictConfig
from tqdm.auto import tqdm

from rns_bench.core.errors import ConfigError
from rns_bench.methods import load_methods
from rns_bench.report.leaderboard import DeclaredRun, Scope, sweep_records, write_leaderboard
from rns_bench.runs.config import RunConfig, method_rows, sweep_protocol
from rns_bench.runs.context import RunContext, build_context
from rns_bench.runs.evaluate import make_trainer, run_one
from rns_bench.runs.extraction import extract_sweep_features, sweep_images
from rns_bench.runs.fingerprint import evaluation_fingerprint
from rns_bench.runs.key import RunKey
from rns_bench.runs.plan import (
    PlannedRun,
    check_rows_against_protocol,
    plan_run,
    tuned_for,
    warn_short_support,
)
from rns_bench.runs.records import has_record, read_records, retire_unusable_records, write_record
from rns_bench.runs.schema import command_line_overrides, validate_config
from rns_bench.runs.shared_evaluation import SharedEvaluations, record_from_shared_evaluation
from rns_bench.tuning.study import check_storage
from rns_bench.tuning.tune import describe, storage_url, tune_one


@dataclass
class SweepStats:
    """What one sweep did: runs evaluated, runs whose record came from a shared evaluation (zero-shot),
    test labels decoded, and the context it used."""

    evaluated: int = 0
    from_shared_evaluation: int = 0
    label_decodes: int = 0
    finished: int = 0  # runs of the sweep's to-do list done (all of them unless interrupted)
    context: RunContext | None = None


def run_sweep(cfg: DictConfig, stats: SweepStats | None = None) -> str:
    """Run every (row, shots, seed) without a record of its current fingerprint; return the leaderboard
    (``stats``, when given, is filled in)."""
    run = validate_config(cfg, command_line_overrides())  # every key and value, before any work
    stats = stats if stats is not None else SweepStats()
    context = stats.context = build_context(run)
    protocol = sweep_protocol(run)
    plans = plan_sweep(run, context, protocol)
    todo = [plan for plan in plans if not has_record(plan.record_path(run.results_dir), plan.fingerprint)]
    check_before_extracting(run, context, todo)
    print(f"{len(plans) - len(todo)} of {len(plans)} runs already have records of this config; running {len(todo)}.")
    if run.tune_missing:  # a corrupt study file is named before any feature is extracted
        for plan in todo:
            if plan.row.tuned_params_of in run.tuning.search_space:
                check_storage(storage_url(run.tuning, plan.key.with_row(plan.row.tuned_params_of)))
    done = {plan.key: plan for plan in plans if plan not in todo}
    stats.finished = 0
    try:
        if todo:  # the test split and the support images, once (split over DDP ranks) into the cache
            jobs = sweep_images(run, context, [plan.key for plan in todo], [plan.row.method for plan in todo])
            extract_sweep_features(run.cache_dir, context, jobs, lambda: make_trainer(run.trainer, []))
        run_plans(run, context, protocol, todo, done, stats)
    except (KeyboardInterrupt, SystemExit) as error:
        # Lightning turns Ctrl-C inside Trainer.test into SystemExit(1); it is still the user's Ctrl-C
        if isinstance(error, SystemExit) and not isinstance(error.__context__, KeyboardInterrupt):
            raise
        checkpointed = " resumes from its checkpoint" if run.checkpoint_every else " starts over"
        print(
            f"\ninterrupted: {stats.finished} of the {len(todo)} runs to do finished this time (records under "
            f"{run.results_dir / context.spec.key / run.backbone_name / protocol}); run the same command again to "
            f"resume: extracted features are kept, finished runs are skipped, the interrupted one{checkpointed}",
            file=sys.stderr,
        )
        raise KeyboardInterrupt from None
    stats.label_decodes = context.label_decodes
    print(
        f"features extracted by this sweep: {context.test_store.extracted} test, "
        f"{context.support_store.extracted} support images (all else from "
        f"{run.cache_dir or 'memory'}; finetune rows extract their own, uncached); {stats.evaluated} runs "
        f"evaluated, {stats.from_shared_evaluation} recorded from a shared evaluation (zero-shot reads no "
        f"support); test labels decoded: {context.label_decodes}"
    )
    if not _is_main_process():
        return ""  # DDP workers evaluated their share; rank 0 writes records and the leaderboard
    return leaderboard(run, context, protocol, list(done.values()))


def plan_sweep(run: RunConfig, context: RunContext, protocol: str) -> list[PlannedRun]:
    """Every run of the sweep, planned; records it cannot use are moved aside first (and said so)."""
    rows = method_rows(run)
    # A support set's rows run one after another: finetune and finetune_rns share one finetuned encoder.
    keys = [
        (row, RunKey(context.spec.key, run.backbone_name, protocol, row.row, int(b), int(s)))
        for b in run.shots
        for s in run.seeds_for(context.support_spec)
        for row in rows
    ]
    retired = [moved for _, key in keys for moved in retire_unusable_records(run.results_dir, key)]
    if retired:
        print(
            f"{len(retired)} record file(s) could not be used (unreadable, or from before fingerprints) and were "
            f"moved aside, e.g. {retired[0]}; their runs are re-done"
        )
    return [plan_run(run, context, row, key) for row, key in keys]


def check_before_extracting(run: RunConfig, context: RunContext, todo: list[PlannedRun]) -> None:
    """What would fail later fails now, before any extraction: rows the protocol leaves nothing to predict
    from, a Trainer argument Lightning refuses (devices=0, a GPU on a CPU machine), a bad test label (value ≥ K,
    truncated: decoded once a job); classes the pool gives fewer than B support images are warned about."""
    check_rows_against_protocol(run, context, todo)
    warn_short_support(context, todo)
    if todo:
        make_trainer(run.trainer, [])
        for image_id in tqdm(context.test_ids, desc="test labels", unit="label", leave=False, delay=1.0):
            context.test_label(image_id)


def run_plans(
    run: RunConfig,
    context: RunContext,
    protocol: str,
    todo: list[PlannedRun],
    done: dict[RunKey, PlannedRun],
    stats: SweepStats,
) -> None:
    """Run ``todo`` (tuning first where missing), each re-planned; support-free rows (zero-shot) are evaluated
    once per text setting, earlier sweeps' evaluations counting; ``stats.finished`` counts the runs done."""
    registry = load_methods()
    shared = SharedEvaluations(read_records(run.results_dir, context.spec.key, run.backbone_name, protocol))
    progress = tqdm(todo, desc="runs", unit="run")
    for plan in progress:
        progress.set_postfix_str(f"{plan.key.row} B={plan.key.shots} seed={plan.key.seed}")
        if run.tune_missing:
            tune_if_missing(run, context, plan)
        # Planned before the sweep tuned anything: this run's parameters may exist now (tuned just
        # now, or by an earlier row of the same support set — finetune for finetune_rns), changing
        # its options and fingerprint.
        plan = plan_run(run, context, plan.row, plan.key)
        done[plan.key] = plan
        if not has_record(plan.record_path(run.results_dir), plan.fingerprint):
            evaluated_once = not registry.get(plan.row.method).reads_support
            evaluation = evaluation_fingerprint(plan.identity) if evaluated_once else None
            if evaluated_once and shared.has(evaluation):
                if _is_main_process():
                    record = record_from_shared_evaluation(run.protocol, context, plan, shared.source_of(evaluation))
                    write_record(plan.record_path(run.results_dir), record)
                stats.from_shared_evaluation += 1
            else:
                record = run_one(run, context, plan)
                stats.evaluated += 1
                if evaluated_once:
                    shared.add(evaluation, record)
        stats.finished += 1


def leaderboard(run: RunConfig, context: RunContext, protocol: str, done: list[PlannedRun]) -> str:
    """The sweep's leaderboard: its own runs, and every other record in scope listed as left out."""
    records = read_records(run.results_dir, context.spec.key, run.backbone_name, protocol)
    title = f"{context.spec.key} · {run.backbone_name} · {protocol}"
    out_dir = run.results_dir / context.spec.key / run.backbone_name / protocol
    declared = [
        DeclaredRun(plan.key.row, plan.key.shots, plan.key.seed, plan.fingerprint, plan.identity) for plan in done
    ]
    shown, left_out = sweep_records(records, declared, context.spec.key)
    scope = Scope(context.spec.key, run.backbone_name, protocol)
    text = write_leaderboard(shown, out_dir, title, left_out, scope)
    return f"{text}\nrecords, leaderboard.md/.csv/.png: {out_dir}"


def tune_if_missing(run: RunConfig, context: RunContext, plan: PlannedRun) -> None:
    """Tune the row's parameters for this support set first when it has a search space
    (``tuning.search_space``) and no tuned file yet (``make bench``: offline baselines tuned);
    other ranks wait for rank 0's file. The caller re-plans the run afterwards."""
    row, key, tuned_row = plan.row, plan.key, plan.tuned_row
    tuned_key = key.with_row(tuned_row.row)
    tuned_file = tuned_key.tuned_path(run.results_dir, plan.tuning_fingerprint)
    trials = int(run.tuning.n_trials)  # a file tuned with other n_trials is re-derived (extended or cut)
    if tuned_row.row not in run.tuning.search_space or tuned_for(tuned_file, plan.tuning_fingerprint, trials):
        return
    if not _is_main_process():  # rank 0 tunes; every rank must then run with the same parameters
        wait_for_file(
            tuned_file,
            float(run.tuning.wait_for_rank_zero_s),
            lambda path: tuned_for(path, plan.tuning_fingerprint, trials),
        )
        return
    if len(context.support_split(key.shots, key.seed).image_ids) < 2:
        tqdm.write(
            f"{row.row} B={key.shots} seed={key.seed}: one support image, nothing to validate on; "
            "running with the configured options"
        )
        return
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one summary line per study, not one per trial
    try:
        tqdm.write(describe(tune_one(run, context, tuned_row, tuned_key, plan.tuning_fingerprint)))
    finally:
        optuna.logging.set_verbosity(verbosity)


def wait_for_file(
    path: Path, timeout_s: float, ready: Callable[[Path], bool] = Path.exists, poll_s: float = 2.0
) -> None:
    """Block until ``ready(path)`` (written by rank 0), or fail after ``timeout_s`` with the fix."""
    deadline = time.monotonic() + timeout_s
    while not ready(path):
        if time.monotonic() > deadline:
            raise ConfigError(
                f"waited {timeout_s:.0f} s for rank 0's tuned parameters {path}; on several nodes "
                "results_dir must be shared, or tune first with `python -m rns_bench.tuning`"
            )
        time.sleep(poll_s)


def _is_main_process() -> bool:
    # Set by Lightning's launchers (and torchrun / SLURM) for the processes it starts.
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0
