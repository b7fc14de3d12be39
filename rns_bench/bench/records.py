"""One immutable JSON record per run, and where it lives.

``results/<dataset>/<backbone>/<protocol>/<row>/B<shots>_seed<seed>.json``. A record is
written once, atomically, and never overwritten: a sweep skips runs whose record exists,
so it resumes after a crash and finished runs stay finished.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

RECORD_VERSION = 1


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


def read_records(results_dir: Path, dataset: str, backbone: str, protocol: str) -> list[dict[str, Any]]:
    root = Path(results_dir) / dataset / backbone / protocol
    return [json.loads(p.read_text()) for p in sorted(root.glob("*/B*_seed*.json"))]


def environment() -> dict[str, Any]:
    """Git revision and package versions, for the record."""
    try:
        revision = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                  timeout=5, cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        revision = None
    versions = {}
    for package in ("rns-bench", "torch", "lightning", "torchmetrics", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"git_revision": revision, "python": platform.python_version(), "versions": versions,
            "record_version": RECORD_VERSION}
