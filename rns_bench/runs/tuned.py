"""Where a run's tuned parameters live, and how the bench picks them up.

``results/<dataset>/<backbone>/<protocol>/<row>/tuned_B<shots>_seed<seed>-<fp[:12]>.json``, beside
the run's records; ``fp`` is the *tuning fingerprint* (``rns_bench.runs.fingerprint.tuning_identity``:
the support features, protocol, row options, search space and study settings). A file of another
tuning config is never used: that config is tuned on its own. Files without a fingerprint (or of
another pixel path, ``PIXEL_PIPELINE``) are never used by the bench either.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rns_bench.core.atomic_io import write_json_atomic
from rns_bench.core.errors import InputError
from rns_bench.ops.resize import PIXEL_PIPELINE
from rns_bench.runs.key import RunKey


def best_params_path(results_dir: Path, key: RunKey, fingerprint: str = "") -> Path:
    """The tuned-parameter file of run ``key`` under the tuning config ``fingerprint``, next to its record."""
    return key.tuned_path(results_dir, fingerprint)


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


def has_current_params(path: Path, fingerprint: str = "") -> bool:
    """Whether ``path`` holds parameters of the current pixel path (and tuning config)."""
    return current_params(path, fingerprint) is not None


def tuned_options(
    results_dir: Path, key: RunKey, options: dict[str, Any], fingerprint: str = ""
) -> tuple[dict[str, Any], Path | None, dict[str, Any] | None]:
    """A row's options with the run's tuned parameters on top, the file they came from and the tuned
    parameters themselves.

    Returns ``(options, None, None)`` unchanged when the run was not tuned under this config. Tuned
    values override the row's configured ones (they were searched for this support set).
    """
    path = best_params_path(results_dir, key, fingerprint)
    payload = current_params(path, fingerprint)  # read once
    if payload is None:
        return dict(options), None, None
    return {**options, **payload["params"]}, path, dict(payload["params"])
