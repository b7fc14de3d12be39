"""A run as a sweep will do it (its key, row, resolved options, fingerprint), the checks a sweep makes of its
plans before any extraction, and where a run's tuned parameters live.

Tuned parameters: ``results/<dataset>/<backbone>/<protocol>/<row>/tuned_B<shots>_seed<seed>-<fp[:12]>.json``
(``RunKey.tuned_path``), beside the run's records; ``fp`` is the *tuning fingerprint*
(``rns_bench.runs.fingerprint.tuning_identity``: the support features, protocol, row options, search space and
study settings). A file of another tuning config is never used: that config is tuned on its own. Files without a
fingerprint (or of another pixel path, ``PIXEL_PIPELINE``) are never used by the bench either.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rns_bench.core.atomic_io import write_json_atomic
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.methods import build_method
from rns_bench.ops.resize import PIXEL_PIPELINE
from rns_bench.runs.config import MethodRow, RunConfig
from rns_bench.runs.context import RunContext
from rns_bench.runs.fingerprint import fingerprint, run_identity, tuning_identity
from rns_bench.runs.key import RunKey


@dataclass(frozen=True)
class PlannedRun:
    """One run as the sweep will do it: its key, row, resolved options and fingerprint."""

    key: RunKey
    row: MethodRow
    options: dict[str, Any]
    tuned_from: Path | None
    identity: dict[str, Any]
    fingerprint: str
    tuned_row: MethodRow  # the row whose tuned parameters this run uses (``tuned_params_of``; often ``row``)
    tuning_fingerprint: str  # of ``tuned_row`` at this support set

    def record_path(self, results_dir: Path) -> Path:
        return self.key.record_path(results_dir, self.fingerprint)


def tuning_fingerprint_of(run: RunConfig, context: RunContext, row: MethodRow, key: RunKey) -> str:
    """The tuning fingerprint of ``row`` (the row that is tuned) at ``key``'s support set."""
    identity = tuning_identity(
        run,
        key.with_row(row.row),
        method=row.method,
        options=row.options,
        data=run_data_identity(context, key),
        backbone_provenance=context.backbone.provenance(),
    )
    return fingerprint(identity)


def run_data_identity(context: RunContext, key: RunKey) -> dict[str, Any]:
    """The data a run at ``key`` reads, by content: the test split and the drawn support split."""
    return {**context.data_identity, "support": context.support_identity(key.shots, key.seed)}


def plan_run(run: RunConfig, context: RunContext, row: MethodRow, key: RunKey) -> PlannedRun:
    """Resolve ``row``'s options (its tuned parameters on top, when tuned) and the run's fingerprint."""
    tuned_row = row if row.tuned_params_of == row.row else run.row(row.tuned_params_of)
    tuning_fp = tuning_fingerprint_of(run, context, tuned_row, key)
    options, tuned_from, tuned = tuned_options(
        run.results_dir, key.with_row(tuned_row.row), row.options, tuning_fp, int(run.tuning.n_trials)
    )
    identity = run_identity(
        run,
        key,
        method=row.method,
        options=options,
        tuned_params=tuned,
        data=run_data_identity(context, key),
        backbone_provenance=context.backbone.provenance(),
        row_options=row.options,
    )
    return PlannedRun(key, row, options, tuned_from, identity, fingerprint(identity), tuned_row, tuning_fp)


def warn_short_support(context: RunContext, plans: list[PlannedRun]) -> None:
    """One warning per support set, before any extraction, naming the classes the pool gives fewer than B
    images (none at all: the class has no visual support in any run of that set)."""
    for shots, seed in dict.fromkeys((plan.key.shots, plan.key.seed) for plan in plans):
        per_class = context.images_per_class(context.support_split(shots, seed))
        short = {name: n for name, n in per_class.items() if n < shots}
        if short:
            shown = ", ".join(f"{name!r} {n}" for name, n in list(short.items())[:5])
            warnings.warn(
                f"B={shots} seed={seed}: {len(short)} class(es) have fewer than B support images because "
                f"the pool has no more ({shown}{', ...' if len(short) > 5 else ''}); records store each "
                "class's count (support_images_per_class)",
                stacklevel=2,
            )


def check_rows_against_protocol(run: RunConfig, context: RunContext, plans: list[PlannedRun]) -> None:
    """Rows the protocol leaves nothing to predict from fail now, in one line, before any extraction: every
    name dropped (text_drop_fraction=1) and a row that reads text; every image dropped (visual_drop_fraction=1)
    and a row that reads support."""
    visual, text = float(run.protocol.visual_drop_fraction), float(run.protocol.text_drop_fraction)
    if visual < 1.0 and text < 1.0:
        return
    for row in {plan.row.row: plan.row for plan in plans}.values():
        method = build_method(
            row.method, context.class_names, context.backbone.patch_size, row.options, query_mode=run.query_mode
        )
        if text >= 1.0 and method.reads_text:
            raise ConfigError(
                f"protocol.text_drop_fraction={text:g} drops every class name, but row {row.row!r} "
                f"({row.method}) reads the names' text; run its w/o-text variant (rns with "
                "text_free: true, knn_clip / freeda with use_text: false) or a fraction below 1"
            )
        if visual >= 1.0 and method.reads_support:
            raise ConfigError(
                f"protocol.visual_drop_fraction={visual:g} drops every support image, but row "
                f"{row.row!r} ({row.method}) predicts from support; run methods=[zero_shot] or a "
                "fraction below 1"
            )


def write_best_params(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` atomically; a later tuning of the same config replaces it."""
    write_json_atomic(path, payload)


def read_best_params(path: Path) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text())
    except ValueError:
        raise InputError(f"{path} is not JSON (truncated?); delete it and the bench tunes again") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("params"), dict):
        raise InputError(f"{path} holds no 'params' mapping; delete it and re-run `python -m rns_bench.tuning`")
    return payload


def current_params(path: Path, fingerprint: str = "") -> dict[str, Any] | None:
    """The payload at ``path`` when it was tuned through the current pixel path (and, given a
    ``fingerprint``, under that tuning config), else None."""
    if not path.exists():
        return None
    payload = read_best_params(path)
    if payload.get("pixel_pipeline") != PIXEL_PIPELINE:
        return None
    if fingerprint and payload.get("tuning_fingerprint") != fingerprint:
        return None
    return payload


def tuned_for(path: Path, fingerprint: str, n_trials: int) -> bool:
    """Whether ``path`` holds the current parameters chosen over ``n_trials`` trials: a study tuned with
    fewer is extended, one with more gives the best of its first ``n_trials`` (the tuner re-derives).
    A file that records no trial count (written by hand) counts as tuned for any."""
    payload = current_params(path, fingerprint)
    return payload is not None and payload.get("n_trials", n_trials) == n_trials


def tuned_options(
    results_dir: Path, key: RunKey, options: dict[str, Any], fingerprint: str = "", n_trials: int | None = None
) -> tuple[dict[str, Any], Path | None, dict[str, Any] | None]:
    """A row's options with the run's tuned parameters on top, the file they came from and the tuned
    parameters themselves.

    Returns ``(options, None, None)`` unchanged when the run was not tuned under this config (nor, given
    ``n_trials``, over that many trials: :func:`tuned_for`). Tuned
    values override the row's configured ones (they were searched for this support set).
    """
    path = key.tuned_path(results_dir, fingerprint)
    payload = current_params(path, fingerprint)  # read once
    if payload is None or (n_trials is not None and payload.get("n_trials", n_trials) != n_trials):
        return dict(options), None, None
    return {**options, **payload["params"]}, path, dict(payload["params"])
