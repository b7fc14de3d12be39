"""Where a run's tuned parameters live, and how the bench picks them up.

``results/<dataset>/<backbone>/<protocol>/<row>/tuned_B<shots>_seed<seed>.json`` — beside the
run record ``B<shots>_seed<seed>.json``. The name does not start with ``B`` on purpose: the
record reader globs ``*/B*_seed*.json`` and must never read a parameter file as a record.

A file tuned through another pixel path (``PIXEL_PIPELINE``: its features were decoded or resized
differently; files before it carry no stamp) is stale: never used, and re-tuned by ``make bench``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rns_bench.core.atomic_io import write_json_atomic
from rns_bench.core.errors import InputError
from rns_bench.ops.resize import PIXEL_PIPELINE
from rns_bench.runs.key import RunKey


def best_params_path(results_dir: Path, key: RunKey) -> Path:
    """The tuned-parameter file of run ``key``, next to its record."""
    return key.tuned_path(results_dir)


def write_best_params(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` atomically; a later tuning replaces it."""
    write_json_atomic(path, payload)


def read_best_params(path: Path) -> dict[str, Any]:
    payload = json.loads(path.read_text())
    if not isinstance(payload.get("params"), dict):
        raise InputError(f"{path} holds no 'params' mapping; delete it and re-run `python -m rns_bench.tuning`")
    return payload


def current_params(path: Path) -> dict[str, Any] | None:
    """The payload at ``path`` when it was tuned through the current pixel path, else None."""
    if not path.exists():
        return None
    payload = read_best_params(path)
    return payload if payload.get("pixel_pipeline") == PIXEL_PIPELINE else None


def has_current_params(path: Path) -> bool:
    """Whether ``path`` holds parameters tuned through the current pixel path."""
    return current_params(path) is not None


def tuned_options(results_dir: Path, key: RunKey, options: dict[str, Any]) -> tuple[dict[str, Any], Path | None]:
    """A row's options with the run's tuned parameters on top, and the file they came from.

    Returns ``(options, None)`` unchanged when the run was not tuned (or only through another pixel
    path). Tuned values override the row's configured ones (they were searched for this support set).
    """
    path = best_params_path(results_dir, key)
    payload = current_params(path)  # read once
    if payload is None:
        return dict(options), None
    return {**options, **payload["params"]}, path
