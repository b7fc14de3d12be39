"""A sweep's leaderboard: which records it shows, written through the report's tables and figures
(:mod:`rns_bench.report.tables`, :mod:`rns_bench.report.figures`), derived from run records (never
edited by hand).

A sweep's leaderboard shows exactly the records of the runs it declares: its rows at its B values and
seeds, each with the fingerprint the sweep gives that run (:func:`sweep_records`). Every other record of
its folder (a smoke run, an ad-hoc option, another B or seed, a row this sweep does not run) is left out
and counted by reason under "Left out", like a report's; ``python -m rns_bench.report`` shows a whole
experiment. Where the paper has a cell's number (Tables 3 and 4 on their datasets) it stands in a paper
column beside ours, with its source; on ``toy`` one line says why the ranking is not the paper's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rns_bench.core.atomic_io import write_text_atomic
from rns_bench.report.declared import value_at
from rns_bench.report.figures import plot_curves
from rns_bench.report.intervals import METHOD
from rns_bench.report.selection import LeftOut, unusable
from rns_bench.report.sources import Footnotes, leaderboard_lookup
from rns_bench.report.spec import SUBSETS
from rns_bench.report.tables import PaperLookup, closed_vocabulary_rows, leaderboard_table, write_leaderboard_csv
from rns_bench.runs.fingerprint import identity_differences
from rns_bench.runs.key import DATASET as TOY
from rns_bench.runs.records import RunRecord

SHOWN_DIFFERENCES = 3
LEFT_OUT_HEADING = "Left out: records of this folder that are not this sweep's runs"
TOY_ORDERING = (
    "On toy the ranking is not the paper's: the synthetic world favours closed-vocabulary heads (its features "
    "are easier for a linear probe than real ones, and its text prior is weaker than CLIP's); see "
    "docs/toy.md, where the world disagrees with the paper."
)


@dataclass(frozen=True)
class Scope:
    """What a leaderboard covers: one dataset, backbone and results folder."""

    dataset: str
    backbone: str
    folder: str


@dataclass(frozen=True)
class DeclaredRun:
    """A run the sweep declares: its cell and the fingerprint (and identity) the sweep gives it."""

    row: str
    shots: int
    seed: int
    fingerprint: str
    identity: Mapping[str, Any]


def sweep_records(
    records: list[RunRecord], declared: list[DeclaredRun], dataset: str
) -> tuple[list[RunRecord], LeftOut]:
    """The records of ``declared`` (one per run at most), and the rest counted by reason."""
    runs = {(run.row, run.shots, run.seed): run for run in declared}
    rows = sorted({run.row for run in declared})
    shots, seeds = sorted({run.shots for run in declared}), sorted({run.seed for run in declared})
    kept: dict[tuple[str, int, int], RunRecord] = {}
    left_out = LeftOut()
    for record in records:
        problem = unusable(record)
        if problem:
            left_out.add(f"unusable record: {problem}", str(record.row), dataset)
            continue
        row, b, seed = record.row, int(record.shots), int(record.seed)
        run = runs.get((row, b, seed))
        if run is not None and record.fingerprint == run.fingerprint:
            kept[row, b, seed] = record
            continue
        if row not in rows:
            why = f"row {row} is not run by this sweep (methods: {', '.join(rows)})"
        elif b not in shots:
            why = f"B = {b} is not declared by this sweep (shots: {', '.join(map(str, shots))})"
        elif seed not in seeds:
            why = f"seed {seed} is not declared by this sweep (seeds: {', '.join(map(str, seeds))})"
        else:
            why = _other_config(record, run) if run is not None else f"{row} is not run at B = {b}, seed {seed}"
        left_out.add(why, row, dataset)
    return list(kept.values()), left_out


def _other_config(record: RunRecord, run: DeclaredRun) -> str:
    """Why a record of a declared cell is not the sweep's run (one line, shared by records alike)."""
    identity = record.identity
    if not isinstance(identity, Mapping):
        return "no identity: a record from before records knew their config"
    count, declared = record.num_test_images, value_at(run.identity, "data.num_test_images")
    limit = record.test_limit
    if count != declared and limit is not None:
        return f"smoke run: test_limit={limit} ({count} test images; this sweep: {declared})"
    differences = [p for p in identity_differences([identity, run.identity]) if not p.startswith("run.")]
    if not differences:
        return "another config (its fingerprint differs, in settings older records do not list)"
    more = f" and {len(differences) - SHOWN_DIFFERENCES} more" if len(differences) > SHOWN_DIFFERENCES else ""
    return f"another config: differs in {', '.join(differences[:SHOWN_DIFFERENCES])}{more}"


def write_leaderboard(
    records: list[RunRecord],
    out_dir: Path,
    title: str,
    left_out: LeftOut | None = None,
    scope: Scope | None = None,
) -> str:
    """Write leaderboard.md / .csv / .png of ``records`` (one config per row: :func:`sweep_records`) into
    ``out_dir``, ending with what was ``left_out``; return the markdown. ``scope``: the sweep's dataset,
    backbone and folder, for the paper's values of its cells."""
    out_dir.mkdir(parents=True, exist_ok=True)
    described = {subset.metric: subset.description for subset in SUBSETS.values() if subset.metric}
    metrics = tuple(m for m in described if any(m in r.metrics for r in records)) or ("mIoU",)
    paper: PaperLookup | None = leaderboard_lookup(scope.dataset, scope.backbone, scope.folder) if scope else None
    footnotes = Footnotes()
    sections = [f"# {title}", f"mIoU (%): mean {METHOD}."]
    if scope is not None and scope.dataset == TOY:
        sections.append(TOY_ORDERING)
    for metric in metrics:
        heading = f"## mIoU over {described[metric]}\n\n" if len(metrics) > 1 else ""
        sections.append(heading + leaderboard_table(records, metric, paper, footnotes))
    if footnotes.texts:
        sections.append("\n".join(footnotes.markdown()).strip())
    closed = closed_vocabulary_rows(records)
    if closed:
        worst = ", ".join(f"{row} {n}" for row, n in sorted(closed.items()) if n)
        sections.append(
            "† closed vocabulary (offline baseline): never predicts a class without visual support ("
            + (
                f"most classes unpredictable in one run: {worst})"
                if worst
                else "every class had visual support in these runs)"
            )
        )
    if left_out is not None and left_out.total:
        sections.append("\n".join(left_out.markdown(LEFT_OUT_HEADING)).strip())
    text = "\n\n".join(sections) + "\n"
    write_text_atomic(out_dir / "leaderboard.md", text)
    write_leaderboard_csv(records, out_dir / "leaderboard.csv", metrics, paper)
    plot_curves(records, out_dir / "leaderboard.png", title)
    return text
