"""One immutable JSON record per run, and where it lives.

``results/<dataset>/<backbone>/<protocol>/<row>/B<shots>_seed<seed>-<fingerprint[:12]>.json``. A
record knows its config: it holds the run's ``identity`` (everything that changes its number,
``rns_bench.runs.fingerprint``) and its ``fingerprint``. A record is written once, atomically, and
never overwritten: a sweep skips a run only when the record of its key *and* fingerprint exists, so
it resumes after a crash, finished runs stay finished, and a changed config writes a new record
beside the old one. Readers take every record of a scope; reports group them by fingerprint.

Files a sweep cannot use are moved to ``<row>/stale/`` (kept, never deleted) and named: records
from before fingerprints (``B<shots>_seed<seed>.json``) and unreadable ones (truncated, not JSON).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import warnings
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from rns_bench.core.atomic_io import write_json_atomic
from rns_bench.core.provenance import git_revision
from rns_bench.runs.key import RunKey

RECORD_VERSION = 3  # v3: records carry ``identity`` and ``fingerprint``
STALE_DIR = "stale"


def write_record(path: Path, record: dict[str, Any]) -> bool:
    """Write ``record`` to ``path`` atomically unless a record is already there (finished runs are
    never replaced). Returns False (and writes nothing) when the record exists."""
    return write_json_atomic(path, record, exclusive=True)


def load_record(path: Path) -> dict[str, Any] | None:
    """The record at ``path``; None when there is none; {} when it is unreadable (truncated, not JSON,
    or without the fields every record has)."""
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict) or not isinstance(record.get("metrics"), dict) or "row" not in record:
        return {}
    return record


def has_record(path: Path, fingerprint: str) -> bool:
    """Whether a readable record of ``fingerprint`` is at ``path`` (a run that is done)."""
    record = load_record(path)
    return bool(record) and record.get("fingerprint") == fingerprint


def retire(path: Path, reason: str) -> Path:
    """Move ``path`` to ``<row>/stale/<name>.<reason>[.<n>].json``, kept for comparison; returns the target."""
    target_dir = path.parent / STALE_DIR
    target_dir.mkdir(exist_ok=True)
    target = target_dir / f"{path.stem}.{reason}.json"
    n = 1
    while target.exists():
        target, n = target_dir / f"{path.stem}.{reason}.{n}.json", n + 1
    with contextlib.suppress(FileNotFoundError):  # another process (a DDP rank) moved it first
        os.replace(path, target)
    return target


NUMBER_METRICS = ("mIoU", "mIoU_supported", "mIoU_unsupported", "aAcc")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def unusable(record: Mapping[str, Any]) -> str | None:
    """Why a readable record's numbers cannot be used (a value of the wrong type); None when they can."""
    for key in ("shots", "seed"):
        if not isinstance(record.get(key), int) or isinstance(record.get(key), bool):
            return f"{key}={record.get(key)!r} is not a whole number"
    metrics = record["metrics"]
    for key in NUMBER_METRICS:
        if metrics.get(key) is not None and not _is_number(metrics[key]):
            return f"metrics.{key}={metrics[key]!r} is not a number"
    per_class = metrics.get("per_class_IoU")
    if per_class is not None and (
        not isinstance(per_class, Mapping) or any(v is not None and not _is_number(v) for v in per_class.values())
    ):
        return "metrics.per_class_IoU is not a mapping of class name → number"
    seconds = record.get("seconds_per_image")
    if seconds is not None and (
        not isinstance(seconds, Mapping) or any(v is not None and not _is_number(v) for v in seconds.values())
    ):
        return "seconds_per_image is not a mapping of part → number"
    if not isinstance(record.get("created", ""), str):
        return f"created={record.get('created')!r} is not a time stamp"
    return None


def retire_unusable_records(results_dir: Path, key: RunKey) -> list[Path]:
    """Move the records of ``key``'s cell that no sweep can use to ``stale/``: the pre-fingerprint
    ``B<shots>_seed<seed>.json``, unreadable fingerprinted ones and those whose numbers are not numbers
    (``"mIoU": "high"``, ``"shots": "1"``). Returns where they went."""
    row_dir = key.row_dir(results_dir)
    moved = []
    legacy = key.path(results_dir)
    if legacy.exists():
        moved.append(retire(legacy, "before-fingerprints"))
    for path in sorted(row_dir.glob(f"{key.cell}-*.json")):
        record = load_record(path)
        if record == {}:
            moved.append(retire(path, "unreadable"))
        elif "fingerprint" in record and unusable(record):
            moved.append(retire(path, "unusable"))
    return moved


def read_records(results_dir: Path, dataset: str, backbone: str, protocol: str) -> list[dict[str, Any]]:
    """Every fingerprinted record of (dataset, backbone, protocol), whichever sweep wrote it.

    Unreadable files are named in a warning and skipped (a sweep moves them aside and re-runs them).
    """
    root = Path(results_dir) / dataset / backbone / protocol
    records = []
    for path in sorted(root.glob("*/B*_seed*-*.json")):
        record = load_record(path)
        if not record or "fingerprint" not in record:
            warnings.warn(
                f"skipping the unreadable record {path}; the next sweep of its cell moves it to "
                f"{path.parent / STALE_DIR}/ and re-runs the cell",
                stacklevel=2,
            )
            continue
        records.append(record)
    return records


def environment() -> dict[str, Any]:
    """Git revision and package versions, for the record."""
    revision = git_revision(Path(__file__).parent)
    versions = {}
    for package in ("rns-bench", "torch", "lightning", "torchmetrics", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "git_revision": revision,
        "python": platform.python_version(),
        "versions": versions,
        "record_version": RECORD_VERSION,
    }
