"""One immutable JSON record per run, and where it lives.

``results/<dataset>/<backbone>/<protocol>/<row>/B<shots>_seed<seed>.json``. A record is
written once, atomically, and never overwritten: a sweep skips runs whose current record
exists, so it resumes after a crash and finished runs stay finished.

A record computed through another pixel path (``rns_bench.ops.resize.PIXEL_PIPELINE``: how
images were decoded and resized; records before it say nothing) is *stale*: its number is not
the current code's. The sweep moves it to ``<row>/stale/`` (kept, never deleted) and re-runs the
cell; readers never count it.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from rns_bench.ops.resize import PIXEL_PIPELINE
from rns_bench.provenance import git_revision

RECORD_VERSION = 2  # v2: records carry ``pixel_pipeline``
STALE_DIR = "stale"


@dataclass(frozen=True)
class RunKey:
    """What identifies a run: a row of the leaderboard at one shot count and seed."""

    dataset: str
    backbone: str
    protocol: str
    row: str
    shots: int
    seed: int

    def path(self, results_dir: Path) -> Path:
        return (Path(results_dir) / self.dataset / self.backbone / self.protocol / self.row
                / f"B{self.shots}_seed{self.seed}.json")


def write_record(path: Path, record: dict[str, Any]) -> bool:
    """Write ``record`` to ``path`` atomically unless a record is already there.

    Returns False (and writes nothing) when the record exists.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(record, out, indent=2, sort_keys=True, allow_nan=False)
        try:
            os.link(tmp, path)  # fails if the record exists: finished runs are never replaced
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def is_current(record: dict[str, Any]) -> bool:
    """Whether ``record`` was computed through the current pixel path (decode + resize)."""
    return record.get("pixel_pipeline") == PIXEL_PIPELINE


def _load(path: Path) -> dict[str, Any] | None:
    """The record at ``path``; None when there is none; {} when it is unreadable (truncated, not JSON)."""
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def has_current_record(path: Path) -> bool:
    """Whether a readable record computed through the current pixel path exists at ``path``."""
    record = _load(path)
    return bool(record) and is_current(record)


def retire_stale_record(path: Path) -> Path | None:
    """Move a stale or unreadable record at ``path`` to ``<row>/stale/`` (kept for comparison, never
    counted); returns where it went, or None when ``path`` holds no such record."""
    record = _load(path)
    if record is None or (record and is_current(record)):
        return None
    # Records before PIXEL_PIPELINE carry no stamp: they decoded and resized with PIL.
    stamp = (record.get("pixel_pipeline") or "pil-v0") if record else "unreadable"
    created = str(record.get("created", "")).replace(":", "") if record else ""
    target = path.parent / STALE_DIR / f"{path.stem}.{stamp}{'.' + created if created else ''}.json"
    target.parent.mkdir(exist_ok=True)
    with contextlib.suppress(FileNotFoundError):  # another process (a DDP rank) moved it first
        os.replace(path, target)
    return target


def read_records(results_dir: Path, dataset: str, backbone: str, protocol: str) -> list[dict[str, Any]]:
    """Every current record of (dataset, backbone, protocol); stale ones are never counted."""
    root = Path(results_dir) / dataset / backbone / protocol
    records = (_load(p) for p in sorted(root.glob("*/B*_seed*.json")))
    return [record for record in records if record and is_current(record)]


def environment() -> dict[str, Any]:
    """Git revision and package versions, for the record."""
    revision = git_revision(Path(__file__).parent)
    versions = {}
    for package in ("rns-bench", "torch", "lightning", "torchmetrics", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"git_revision": revision, "python": platform.python_version(), "versions": versions,
            "record_version": RECORD_VERSION}
