"""The loop every preparation step shares: convert each input to one output file, resumably.

A job names its output file; a job whose output exists is skipped (outputs are written
atomically, so an existing one is complete), the rest run with a tqdm bar, optionally in
worker processes. The converters stay pure functions of one job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from tqdm.auto import tqdm

from rns_bench.core.errors import InputError


class Job(Protocol):
    """One conversion: whatever the converter needs, plus the file it writes."""

    @property
    def output(self) -> Path: ...


JobT = TypeVar("JobT", bound=Job)


@dataclass(frozen=True)
class ConversionReport:
    """What a preparation step did: files written now, files already there, where they are."""

    written: int
    skipped: int
    output_dir: Path
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        lines = [f"wrote {self.written} file(s), kept {self.skipped} already prepared, under {self.output_dir}"]
        return "\n".join(lines + list(self.notes))


def run_jobs(jobs: Sequence[JobT], convert: Callable[[JobT], None], desc: str, workers: int = 1) -> tuple[int, int]:
    """Run ``convert`` on every job whose output is missing; returns (written, skipped).

    ``convert`` must write ``job.output`` atomically. With ``workers > 1`` jobs run in that many
    processes (``convert`` and the jobs must then be picklable: module-level functions, plain data).
    """
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    todo = [job for job in jobs if not job.output.exists()]
    skipped = len(jobs) - len(todo)
    progress = tqdm(total=len(jobs), initial=skipped, desc=desc, unit="file", disable=not todo)
    try:
        if workers == 1 or len(todo) < 2:
            for job in todo:
                convert(job)
                progress.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for _ in pool.map(convert, todo, chunksize=max(1, min(64, len(todo) // (4 * workers)))):
                    progress.update()
    finally:
        progress.close()
    return len(todo), skipped


def require_file(path: Path, what: str, fix: str) -> Path:
    """``path`` if it is a file, else an InputError naming it and the fix."""
    if not path.is_file():
        raise InputError(f"{what} not found: expected the file {path}. {fix}")
    return path


def require_folder(path: Path, what: str, fix: str) -> Path:
    """``path`` if it is a folder, else an InputError naming it and the fix."""
    if not path.is_dir():
        raise InputError(f"{what} not found: expected the folder {path}. {fix}")
    return path
