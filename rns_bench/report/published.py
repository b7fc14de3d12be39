"""The paper's numbers as data: ``rns_bench/report/paper/published.csv``, transcribed from Tables 1, 3, 4 and 5
of shared/paper/rns-paper.txt. Each row names its table and row, the dataset (``mean6``: the mean
over VOC, Context, Object, Stuff, City, ADE; ``mean_table4``: Table 4's Avg.), backbone and
granularity (``unstated`` where the caption does not say), B, the unseen-class fraction, the class
subset (S / U / A), the value, where the paper prints it (``source``: table and row; ``paper``: the RNS
paper, shared/paper/rns-paper.txt), the paper it quotes the number from where it is not its own
(``quoted_from``: Table 4's fully supervised bound) and a note on how a garbled extraction was resolved."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from rns_bench.core.errors import InputError
from rns_bench.core.paths import PUBLISHED_CSV  # package data, never under results/

COLUMNS = (
    "table",
    "row",
    "method_row",
    "dataset",
    "backbone",
    "granularity",
    "shots",
    "unseen_fraction",
    "subset",
    "value",
    "source",
    "paper",
    "quoted_from",
    "note",
)


@dataclass(frozen=True)
class PublishedValue:
    table: str
    row: str
    method_row: str
    dataset: str
    backbone: str
    granularity: str
    shots: int | None
    unseen_fraction: float
    subset: str
    value: float
    source: str
    paper: str
    quoted_from: str  # another paper the number comes from, "" where it is the paper's own
    note: str
    derived: str = ""  # how a value the paper does not print is computed from ones it does (Table 3's H)

    @property
    def resolved(self) -> bool:
        """False where the transcription could not be made consistent (the note says why)."""
        return not self.note.startswith("UNRESOLVED")


def published_values(path: Path = PUBLISHED_CSV) -> list[PublishedValue]:
    """Every transcribed value, in file order."""
    if not path.is_file():
        raise InputError(f"the paper's reference values are missing: {path} (it is part of the repository)")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise InputError(f"{path}: columns {reader.fieldnames}, expected {list(COLUMNS)}")
        return [
            PublishedValue(
                r["table"],
                r["row"],
                r["method_row"],
                r["dataset"],
                r["backbone"],
                r["granularity"],
                int(r["shots"]) if r["shots"] else None,
                float(r["unseen_fraction"]),
                r["subset"],
                float(r["value"]),
                r["source"],
                r["paper"],
                r["quoted_from"],
                r["note"],
            )
            for r in reader
        ]
