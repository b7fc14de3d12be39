"""Fill caches from a verified pack: everything staged beside the caches first, then moved into place.

Each cache root (``cache_dir``, ``region_cache_dir``) gets a hidden staging folder named like every
temp file (``.pack-import.<host>.<pid>.<token>.tmp``, ``rns_bench.core.atomic_io``); each job writes
its cache folder (or card file) there with the caches' own atomic writers. Only when every job is
staged does anything move: a cache folder the cache lacks is renamed into place whole (one atomic
rename), into an existing one each entry is moved with ``os.replace`` (atomic per entry: entries are
complete and named by content, so the cache then holds what a partly finished extraction would, never
a partial entry). Backbone cards move last, so ``extraction.backbone=cached`` finds a card only once its
features are in. A failure before the moves (a full disk, a damaged shard, Ctrl-C) leaves the caches as
they were; the staging folder is removed, a killed import's by the next import (``remove_stale_temps``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rns_bench.core.atomic_io import remove_stale_temps, temp_path

STAGING_NAME = "pack-import"
KEY_FILE = "key.json"


@dataclass(frozen=True)
class InstallJob:
    """Fill ``target`` (a cache folder or card file under the cache root ``root``): ``write(staging_root)``
    writes it at the same place under ``staging_root`` and returns the entries written."""

    root: Path
    target: Path
    write: Callable[[Path], int]
    last: bool = False  # moved after every other job (backbone cards)


def install(jobs: list[InstallJob]) -> list[int]:
    """Stage every job, then move each into place (``last`` ones at the end); returns each job's entry count."""
    staging: dict[Path, Path] = {}
    try:
        for root in dict.fromkeys(Path(job.root) for job in jobs):
            root.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(root)  # killed imports' staging folders
            staging[root] = temp_path(root / STAGING_NAME)
            staging[root].mkdir()
        counts = [job.write(staging[Path(job.root)]) for job in jobs]
        for job in sorted(jobs, key=lambda job: job.last):
            relative = Path(job.target).relative_to(job.root)
            _move_into_place(staging[Path(job.root)] / relative, Path(job.target))
        return counts
    finally:
        for folder in staging.values():
            shutil.rmtree(folder, ignore_errors=True)


def _move_into_place(staged: Path, target: Path) -> None:
    if not staged.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if staged.is_file() or not target.exists():
        try:
            os.replace(staged, target)  # a file, or a whole folder the cache lacks: one atomic rename
            return
        except OSError:
            if staged.is_file() or not target.is_dir():
                raise  # else a concurrent writer created the folder meanwhile: merge into it below
    for entry in staged.iterdir():
        destination = target / entry.name
        if entry.name == KEY_FILE and destination.exists():
            continue  # the same key, described by the folder's own writer
        os.replace(entry, destination)
