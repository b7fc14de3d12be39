"""What identifies a run, and every path and name derived from it (records, tuned parameters,
Optuna studies, logs, work folders): formatted here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class RunKey:
    """A row of the leaderboard at one shot count and seed, on one dataset × backbone × protocol."""

    dataset: str
    backbone: str
    protocol: str
    row: str
    shots: int
    seed: int

    @property
    def cell(self) -> str:
        """``B<shots>_seed<seed>``: the run's name inside its row folder."""
        return f"B{self.shots}_seed{self.seed}"

    @property
    def scope(self) -> Path:
        """``<dataset>/<backbone>/<protocol>``: the folder of one leaderboard."""
        return Path(self.dataset) / self.backbone / self.protocol

    def row_dir(self, results_dir: Path) -> Path:
        return Path(results_dir) / self.scope / self.row

    def record_path(self, results_dir: Path, fingerprint: str) -> Path:
        """The record of this run under the config of ``fingerprint``: ``<row>/<cell>-<fp[:12]>.json``."""
        return self.row_dir(results_dir) / f"{self.cell}-{fingerprint[:12]}.json"

    def path(self, results_dir: Path) -> Path:
        """Where records lived before fingerprints (``<row>/B<shots>_seed<seed>.json``)."""
        return self.row_dir(results_dir) / f"{self.cell}.json"

    def work_dir(self, results_dir: Path) -> Path:
        """Scratch space of the run (a finetuned encoder's checkpoints)."""
        return self.row_dir(results_dir) / self.cell

    def tuned_path(self, results_dir: Path, fingerprint: str = "") -> Path:
        """The run's tuned-parameter file under the tuning config ``fingerprint``, beside its record. Not
        named ``B*``: record readers glob ``B*_seed*.json`` and must never read a parameter file as a record."""
        suffix = f"-{fingerprint[:12]}" if fingerprint else ""
        return self.row_dir(results_dir) / f"tuned_{self.cell}{suffix}.json"

    def study_db(self, tuning_dir: Path) -> Path:
        """The run's SQLite Optuna study when no shared storage is configured."""
        return Path(tuning_dir) / self.scope / self.row / f"{self.cell}.db"

    def study_name(self, fingerprint: str) -> str:
        """One Optuna study per run key and tuning config: trials of another config are never resumed."""
        return f"{self.scope.as_posix()}/{self.row}/{self.cell}/{fingerprint[:12]}"

    @property
    def log_name(self) -> str:
        """Logger experiment name (CSV folder, W&B group) and version."""
        return f"{self.scope.as_posix()}/{self.row}"

    @property
    def display(self) -> str:
        return f"{self.row}-{self.cell}"

    def with_row(self, row: str) -> RunKey:
        return replace(self, row=row)


STUDY = "personalized"  # experiment.kind, and the records' folder: results/toy/<backbone>/personalized/<row>/
DATASET = "toy"  # the Fig. 7 study runs in the toy world only (its instance looks are generated)


def study_folder(results_dir: Path, backbone: str) -> Path:
    """Where the personalized study's records of ``backbone`` are (one folder per method row)."""
    return Path(results_dir) / DATASET / backbone / STUDY
