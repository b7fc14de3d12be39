"""Check a dataset on disk before running on it: images per split and every label's values (§1).

``verify_dataset("ade", data_root)`` lists each split with the production reader (so the same
missing-file checks apply), compares the counts with the spec's ``expected_counts`` and, unless
``check_labels=False`` (the fast mode), reads every label map of those splits through
``reader.read_label``: PIL mode, size against the image header, values in 0..K−1 or 255 after
``reduce_zero_label``. Images are not decoded (runs report a truncated image by name).
Problems are collected, not stopped at, and raised together as one report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from rns_bench.core.errors import InputError
from rns_bench.data.datasets import DatasetSpec, resolve_data_root
from rns_bench.data.declared import spec_for_key
from rns_bench.data.readers.label_reader import SegmentationReader

MAX_LISTED_PROBLEMS = 20


@dataclass(frozen=True)
class SplitCount:
    """Images found in one split against the count the dataset should have (None: unchecked)."""

    split: str
    expected: int | None
    found: int | None  # None when the split could not be listed (the reason is in the problems)

    @property
    def ok(self) -> bool:
        return self.found is not None and self.expected in (None, self.found)


@dataclass
class VerifyReport:
    """What :func:`verify_dataset` checked and every problem it found (empty = the dataset is fine)."""

    dataset: str
    data_root: Path
    counts: list[SplitCount]
    labels_checked: int = 0  # label files read; 0 when only the counts were checked
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        """A human-readable report: one line per split, the label check, the first problems."""
        lines = [f"dataset {self.dataset!r} under {self.data_root}:"]
        for count in self.counts:
            expected = "" if count.expected is None else f" (expected {count.expected})"
            found = "not listable" if count.found is None else f"{count.found} images"
            lines.append(f"  {'ok  ' if count.ok else 'FAIL'} {count.split}: {found}{expected}")
        lines.append(
            f"  labels checked: {self.labels_checked}" if self.labels_checked else "  labels not checked (counts only)"
        )
        if self.ok:
            lines.append("  no problems found")
            return "\n".join(lines)
        lines.append(f"  {len(self.problems)} problem(s):")
        lines += [f"  - {problem}" for problem in self.problems[:MAX_LISTED_PROBLEMS]]
        if len(self.problems) > MAX_LISTED_PROBLEMS:
            lines.append(f"  ... and {len(self.problems) - MAX_LISTED_PROBLEMS} more")
        return "\n".join(lines)


class DatasetVerificationError(InputError):
    """A dataset that failed :func:`verify_dataset`; ``report`` holds every problem."""

    def __init__(self, report: VerifyReport):
        self.report = report
        super().__init__(report.format())


def verify_dataset(
    key: str | DatasetSpec,
    data_root: str | os.PathLike | None = None,
    *,
    check_labels: bool = True,
    expected_counts: Mapping[str, int] | None = None,
    workers: int = 4,
    progress: bool = True,
    raise_on_problems: bool = True,
) -> VerifyReport:
    """Verify dataset ``key`` (registered or declared, ``spec_for_key``; or its spec) under ``data_root``
    (default: ``$RNS_DATA_ROOT``, else ``./data``).

    Checks the splits of ``expected_counts`` (default: the spec's, plus its support and test
    splits) and, with ``check_labels``, every label file of them using ``workers`` threads and a
    tqdm bar. Raises :class:`DatasetVerificationError` (an ``InputError`` whose message is the
    report) if anything is wrong, unless ``raise_on_problems=False``; returns the report.
    """
    root = resolve_data_root(data_root)
    spec = key if isinstance(key, DatasetSpec) else spec_for_key(key, root)
    key = spec.key
    reader: SegmentationReader = spec.make_reader(root)
    expected = dict(spec.expected_counts if expected_counts is None else expected_counts)
    report = VerifyReport(dataset=key, data_root=root, counts=[])
    split_ids: dict[str, list[str]] = {}
    splits = list(dict.fromkeys([*expected, spec.support_split, spec.test_split]))
    try:
        reader.require_root()
    except InputError as error:  # one message for the whole dataset, not one per split
        report.problems.append(str(error))
        report.counts = [SplitCount(split, expected.get(split), None) for split in splits]
        splits = []
    for split in splits:
        try:
            split_ids[split] = reader.image_ids(split)
        except InputError as error:
            report.problems.append(f"split {split!r}: {error}")
        count = SplitCount(split, expected.get(split), len(split_ids[split]) if split in split_ids else None)
        report.counts.append(count)
        if count.found is not None and not count.ok:
            report.problems.append(
                f"split {split!r} has {count.found} images, expected {count.expected} "
                f"(under {reader.root}): an incomplete download or extraction, or another "
                f"version of the dataset"
            )
    if check_labels:
        all_ids = [i for ids in split_ids.values() for i in ids]
        report.problems += _label_problems(reader, all_ids, workers, progress, desc=f"{key} labels")
        report.labels_checked = len(all_ids)
    if raise_on_problems and not report.ok:
        raise DatasetVerificationError(report)
    return report


def _label_problems(
    reader: SegmentationReader, image_ids: list[str], workers: int, progress: bool, desc: str
) -> list[str]:
    """The error message of every label of ``image_ids`` that ``reader.read_label`` rejects, in id order."""

    def problem(image_id: str) -> str | None:
        try:
            reader.read_label(image_id)
        except InputError as error:
            return str(error)
        return None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # PIL's PNG decoding releases the GIL
        results = tqdm(
            pool.map(problem, image_ids), total=len(image_ids), desc=desc, disable=not progress, unit="label"
        )
        return [message for message in results if message is not None]
