"""One immutable JSON record per run, and where it lives.

``results/<dataset>/<backbone>/<protocol>/<row>/B<shots>_seed<seed>-<fingerprint[:12]>.json``. A
record knows its config: it holds the run's ``identity`` (everything that changes its number,
``rns_bench.runs.fingerprint``) and its ``fingerprint``. A record is written once, atomically, and
never overwritten: a sweep skips a run only when the record of its key *and* fingerprint exists, so
it resumes after a crash, finished runs stay finished, and a changed config writes a new record
beside the old one. Readers take every record of a scope; reports group them by fingerprint. Code
reads and writes a record as a :class:`RunRecord`, whose JSON is the file's object key for key (keys
it does not know are kept), so records written before it read the same.

Files a sweep cannot use are moved to ``<row>/stale/`` (kept, never deleted) and named: records
from before fingerprints (``B<shots>_seed<seed>.json``) and unreadable ones (truncated, not JSON).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from rns_bench.core.atomic_io import write_json_atomic
from rns_bench.core.provenance import git_revision
from rns_bench.runs.key import RunKey

RECORD_VERSION = 3  # v3: records carry ``identity`` and ``fingerprint``
STALE_DIR = "stale"


@dataclass(frozen=True)
class RunRecord:
    """One record as its JSON holds it: a sweep's run (``runs.evaluate``, ``runs.shared_evaluation``) or a
    personalized study's row (``bench.personalized``). Only ``row`` and ``metrics`` are in every record; a
    field that is None is not in the JSON, unless named in ``nulls``. Values are kept as read, not
    coerced: :func:`unusable` says which ones a report cannot use (``"shots": "1"``)."""

    row: str
    metrics: dict[str, Any]  # metric name → value: numbers, ``per_class_IoU`` (class → IoU or None), lists
    fingerprint: str | None = None  # of ``identity``: the run's config, everything that changes its numbers
    config_fingerprint: str | None = None  # of the identity without the cell (shots, seed)
    identity: dict[str, Any] | None = None
    dataset: str | None = None
    backbone: str | None = None
    protocol: str | None = None
    method: str | None = None
    method_options: dict[str, Any] | None = None
    tuned_params: str | None = None  # the tuned-parameters file the options came from
    query_mode: str | None = None
    shots: int | None = None
    seed: int | None = None
    support_split: dict[str, Any] | None = None  # sha256, image_ids
    support_dataset: str | None = None
    support_images_per_class: dict[str, int] | None = None
    classes_without_images: list[int] | None = None
    classes_without_names: list[int] | None = None
    class_list_sha256: str | None = None
    pixel_pipeline: str | None = None
    backbone_provenance: dict[str, Any] | None = None
    num_test_images: int | None = None
    resumed_after_images: int | None = None  # test images counted by an earlier, killed process of the run
    predictions: dict[str, str] | None = None  # image id → palette PNG of the predicted label map
    timings_s: dict[str, float] | None = None
    seconds_per_image: dict[str, float | None] | None = None  # part → seconds (None: nothing measured)
    config: dict[str, Any] | None = None  # the run's resolved config
    environment: dict[str, Any] | None = None  # git revision, package versions, RECORD_VERSION
    created: str | None = None
    evaluation_fingerprint: str | None = None  # support-free runs: one evaluation serves every cell
    evaluated_once: dict[str, Any] | None = None  # a record written from another cell's evaluation
    # a personalized study's record (bench.personalized)
    experiment: str | None = None
    class_names: list[str] | None = None
    personal_class: str | None = None
    generic_class: str | None = None
    images: str | None = None  # the folder of its label maps, beside the record
    shown: int | None = None
    support_images: int | None = None
    images_extracted: dict[str, int] | None = None
    seconds: float | None = None
    # keys this code does not know (kept as read), and fields the JSON holds as null
    extra: dict[str, Any] = field(default_factory=dict)
    nulls: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRecord:
        """The record of a JSON object; ValueError when it is not one (no ``row``, no ``metrics`` mapping)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("metrics"), dict) or "row" not in data:
            raise ValueError("not a run record: it needs a 'row' and a 'metrics' mapping")
        return cls(
            **{k: v for k, v in data.items() if k in RECORD_FIELDS},
            extra={k: v for k, v in data.items() if k not in RECORD_FIELDS},
            nulls=frozenset(k for k in RECORD_FIELDS if k in data and data[k] is None),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the record: exactly the keys it was read with (or built with)."""
        data = {}
        for name in RECORD_FIELDS:
            value = getattr(self, name)
            if value is not None or name in self.nulls:
                data[name] = value
        return {**data, **self.extra}

    def metric(self, name: str) -> Any:
        """``metrics[name]``; None when the record has no such metric."""
        return self.metrics.get(name)

    @property
    def per_class_iou(self) -> dict[str, float | None]:
        """Class name → IoU (%; None: the class is in no test image); empty when not recorded."""
        return self.metrics.get("per_class_IoU") or {}

    @property
    def test_limit(self) -> int | None:
        """The run's ``test_limit`` (None: every test image)."""
        return (self.config or {}).get("test_limit")

    def seconds_for(self, part: str) -> float | None:
        """Seconds per image of ``part`` of the run (``seconds_per_image``); None when not measured."""
        return (self.seconds_per_image or {}).get(part)


RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(RunRecord) if f.name not in ("extra", "nulls"))


class Unreadable:
    """What :func:`load_record` gives for a file that is there but no record (truncated, not JSON, no ``row``
    or ``metrics``): falsy, like no record at all."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "UNREADABLE"


UNREADABLE = Unreadable()


def write_record(path: Path, record: RunRecord) -> bool:
    """Write ``record`` to ``path`` atomically unless a record is already there (finished runs are
    never replaced). Returns False (and writes nothing) when the record exists."""
    return write_json_atomic(path, record.to_json(), exclusive=True)


def load_record(path: Path) -> RunRecord | Unreadable | None:
    """The record at ``path``; None when there is none; :data:`UNREADABLE` when it is unreadable (truncated,
    not JSON, or without the fields every record has)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return UNREADABLE
    try:
        return RunRecord.from_json(data)
    except ValueError:
        return UNREADABLE


def has_record(path: Path, fingerprint: str) -> bool:
    """Whether a readable record of ``fingerprint`` is at ``path`` (a run that is done)."""
    record = load_record(path)
    return isinstance(record, RunRecord) and record.fingerprint == fingerprint


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


def _numbers_or_none(values: Any) -> bool:
    """Whether ``values`` (a record's part → number mapping, absent: None) can be read as numbers."""
    return values is None or (isinstance(values, Mapping) and all(v is None or _is_number(v) for v in values.values()))


def unusable(record: RunRecord) -> str | None:
    """Why a readable record's numbers cannot be used (a value of the wrong type); None when they can."""
    for key, value in (("shots", record.shots), ("seed", record.seed)):
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{key}={value!r} is not a whole number"
    for key in NUMBER_METRICS:
        value = record.metric(key)
        if value is not None and not _is_number(value):
            return f"metrics.{key}={value!r} is not a number"
    if not _numbers_or_none(record.metric("per_class_IoU")):
        return "metrics.per_class_IoU is not a mapping of class name → number"
    if not _numbers_or_none(record.seconds_per_image):
        return "seconds_per_image is not a mapping of part → number"
    if not isinstance(record.created, str) and (record.created is not None or "created" in record.nulls):
        return f"created={record.created!r} is not a time stamp"
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
        if record is UNREADABLE:
            moved.append(retire(path, "unreadable"))
        elif isinstance(record, RunRecord) and record.fingerprint is not None and unusable(record):
            moved.append(retire(path, "unusable"))
    return moved


def read_records(results_dir: Path, dataset: str, backbone: str, protocol: str) -> list[RunRecord]:
    """Every fingerprinted record of (dataset, backbone, protocol), whichever sweep wrote it.

    Unreadable files are named in a warning and skipped (a sweep moves them aside and re-runs them).
    """
    root = Path(results_dir) / dataset / backbone / protocol
    records = []
    for path in sorted(root.glob("*/B*_seed*-*.json")):
        record = load_record(path)
        if not isinstance(record, RunRecord) or record.fingerprint is None:
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
