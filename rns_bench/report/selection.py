"""Which records a report uses, and what it leaves out (:mod:`rns_bench.report.declared` judges each record).

Records are read per (dataset, results folder, row) with their paths. Those of the declared config are
kept; where several configs all match it (another copy of the data, another backbone checkout) a cell
uses the newest and its note names what differs. Every other record of the experiment's rows in scope is
left out and counted by reason: another config (with the keys that differ), a smoke run, a B or seed the
sweep does not declare, a dataset it does not declare, an older matching config, or a file that cannot
be used — unreadable, or a metric that is not a number: such a file is named by its path, in a warning
and in the report's list, and the report goes on without it (a sweep of its cell moves unreadable
files aside and re-runs them).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from rns_bench.report.declared import Declarations
from rns_bench.runs.fingerprint import identity_differences
from rns_bench.runs.records import STALE_DIR, RunRecord, load_record, unusable

RECORD_GLOB = "B*_seed*-*.json"


@dataclass
class LeftOut:
    """Reason → how many records were left out for it, of which rows and datasets."""

    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rows: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    datasets: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, reason: str, row: str, dataset: str, count: int = 1) -> None:
        self.counts[reason] += count
        self.rows[reason].add(row)
        self.datasets[reason].add(dataset)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def markdown(
        self, heading: str = "Left out: records of the experiment's rows that are not its declared configs"
    ) -> list[str]:
        """The "Left out" section (nothing when no record was left out)."""
        if not self.counts:
            return []
        lines = ["", f"## {heading}", "", "| records | why | rows | datasets |", "|---|---|---|---|"]
        for reason in sorted(self.counts, key=lambda r: (-self.counts[r], r)):
            rows, datasets = ", ".join(sorted(self.rows[reason])), ", ".join(sorted(self.datasets[reason]))
            lines.append(f"| {self.counts[reason]} | {reason.replace('|', '/')} | {rows} | {datasets} |")
        return lines


class RecordPool:
    """The records of ``backbone`` under ``results_dir`` that match ``declared``, read once per
    (dataset, folder, row); the rest go to :attr:`left_out`."""

    def __init__(self, results_dir: Path, backbone: str, declared: Declarations):
        self.results_dir, self.backbone, self.declared = Path(results_dir), backbone, declared
        self.left_out = LeftOut()
        self._matched: dict[tuple[str, str, str], list[RunRecord]] = {}
        self._used: set[int] = set()  # id() of the records a cell shows (the pool holds them all)

    def matched(self, dataset: str, folder: str, row: str) -> list[RunRecord]:
        """The records of ``row`` on ``dataset`` in ``folder`` that are of the declared config."""
        key = (dataset, folder, row)
        if key not in self._matched:
            self._matched[key] = self._match(dataset, folder, row)
        return self._matched[key]

    def matched_in(self, dataset: str, folder: str) -> list[RunRecord]:
        """Every matched record of ``folder`` read so far (all the experiment's rows)."""
        return [r for (d, f, _), records in self._matched.items() if (d, f) == (dataset, folder) for r in records]

    def use(self, records: list[RunRecord]) -> None:
        self._used.update(id(r) for r in records)

    def finish(self, datasets: Collection[str], rows: Collection[str], folders: Collection[str]) -> LeftOut:
        """Count what no cell used: older matching configs, B values outside the table, and the records of
        ``rows`` in ``folders`` (those the report reads) of datasets the experiment does not declare."""
        for (dataset, _, row), records in self._matched.items():
            shown = {int(r.shots) for r in records if id(r) in self._used}
            for record in records:
                if id(record) in self._used:
                    continue
                reason = (
                    "an older config that also matches the declared one (each cell uses the newest)"
                    if int(record.shots) in shown
                    else f"B = {record.shots} is not a column of this report"
                )
                self.left_out.add(reason, row, dataset)
        for path in sorted(self.results_dir.glob(f"*/{self.backbone}")):
            dataset = path.parent.name
            if dataset in datasets or not path.is_dir():
                continue
            for folder in sorted(folders):
                for row in rows:
                    count = len(list((path / folder / row).glob(RECORD_GLOB)))
                    if count:
                        self.left_out.add(
                            f"dataset {dataset} is not declared (datasets: {', '.join(datasets)}); "
                            f"dataset={dataset} reports it",
                            row,
                            dataset,
                            count,
                        )
        return self.left_out

    def _match(self, dataset: str, folder: str, row: str) -> list[RunRecord]:
        found = self._read(dataset, folder, row)
        if not found:
            return []
        cell = self.declared.cell(dataset, folder, row)  # composed only where there are records to judge
        kept = []
        for record in found:
            why = cell.why_not(record)
            if why is None:
                kept.append(record)
            else:
                self.left_out.add(why, row, dataset)
        return kept

    def _read(self, dataset: str, folder: str, row: str) -> list[RunRecord]:
        kept = []
        for path in sorted((self.results_dir / dataset / self.backbone / folder / row).glob(RECORD_GLOB)):
            record = load_record(path)
            problem = (
                "unreadable (truncated, not JSON, or not a record)"
                if not isinstance(record, RunRecord) or record.fingerprint is None
                else unusable(record)
            )
            if problem:
                warnings.warn(
                    f"the report leaves out {path}: {problem}; a sweep of its cell moves unreadable records "
                    f"to {path.parent / STALE_DIR}/ and re-runs them",
                    stacklevel=2,
                )
                self.left_out.add(f"unusable file {path}: {problem}", row, dataset)
                continue
            kept.append(record)
        return kept


def newest_config(records: list[RunRecord]) -> tuple[list[RunRecord], str | None]:
    """The records of the newest config among ``records`` (all of the declared config), and a note when
    there were several (what differs between them)."""
    configs: dict[str, list[RunRecord]] = defaultdict(list)
    for record in records:
        configs[str(record.config_fingerprint or "")].append(record)
    newest = max(configs, key=lambda fp: max(str(r.created or "") for r in configs[fp]))
    if len(configs) == 1:
        return configs[newest], None
    differ = identity_differences([group[0].identity or {} for group in configs.values()])
    cell_paths = ("run.shots", "run.seed", "data.support", "method.options", "method.tuned_params")  # per cell
    shown = ", ".join(p for p in differ if not p.startswith(cell_paths)) or "?"
    return configs[newest], (
        f"records of {len(configs)} configs match the declared one, the newest is used (they differ in {shown})"
    )
