"""Class presence per support image, computed once and kept on disk (protocol §2 step 2).

Presence -- "class c has at least one pixel in the support-resized label map" -- is the slow
part of drawing a support split (one label read and resize per pool image, 5000 per seed).
It depends only on the dataset's label files, its class list and the support short side, not
on the seed or the shots, so one index serves every split of a dataset. Rows are named by the
label file's content digest (``SegmentationReader.label_digest``), so a relabelled file gets its
row computed again, and another copy of the dataset shares the rows of identical files:

    <root>/<dataset>/<key digest>.safetensors
        tensor  "presence"   (N, K) bool, one row per label
        metadata "key"       the canonical JSON of the PresenceKey (checked on load)
        metadata "image_ids" JSON list of the N row names (label digests), row order

Rows are added as pools need them (COCO's 118k-image train split draws a different 5000-image
pool per seed) and written back every ``checkpoint_every`` images, so an interrupted
computation keeps what it did. Writes go to a temporary file renamed into place under a lock:
an entry on disk is always complete, concurrent runs merge instead of overwriting each other,
and nothing is ever unpickled. An unreadable entry is reported and rebuilt, as a cache should.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file
from tqdm.auto import tqdm

from rns_bench.core.atomic_io import atomic_target, file_lock
from rns_bench.data.datasets import DatasetSpec
from rns_bench.data.sampling import class_presence
from rns_bench.ops.resize import PIXEL_PIPELINE, rescale_size, resize_label

# Bump when the way presence is computed changes (resize rule, ignore handling): old entries
# then simply stop matching.
PRESENCE_FORMAT = "presence-v3"  # v3: rows named by label content (v2: by image id)
CHECKPOINT_EVERY = 1000

ReadLabel = Callable[[str], np.ndarray]
RowName = Callable[[str], str]  # image id → its row's name: the label's content digest


@dataclass(frozen=True)
class PresenceKey:
    """Everything presence rows depend on; a change in any field selects another index file."""

    dataset: str
    data_version: str
    class_list_sha256: str
    short_side: int | None  # support resize (§2.2); None = original resolution
    format: str = PRESENCE_FORMAT
    pixel_pipeline: str = PIXEL_PIPELINE  # how labels are resized (rns_bench.ops.resize)

    @classmethod
    def for_dataset(cls, spec: DatasetSpec, short_side: int | None) -> PresenceKey:
        """The key of a ``DatasetSpec`` at the support short side ``short_side``."""
        return cls(spec.key, spec.data_version, spec.class_list_sha256(), short_side)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @property
    def digest(self) -> str:
        """16 hex characters of the sha256 of ``to_json``: the index file's name."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def presence_row(read_label: ReadLabel, image_id: str, num_classes: int, short_side: int | None) -> np.ndarray:
    """(K,) bool presence of one image on its support-resized label map (§2.2).

    ``read_label(id)`` gives the (H, W) class-index map; it is resized keep-ratio to
    ``short_side`` with nearest interpolation first, so classes the resize erases do not count.
    """
    label = read_label(image_id)
    return class_presence(resize_label(label, rescale_size(*label.shape, short_side)), num_classes)


def compute_presence(
    read_label: ReadLabel, image_ids: Sequence[str], num_classes: int, short_side: int | None
) -> np.ndarray:
    """(P, K) bool presence of ``image_ids`` (see :func:`presence_row`), with a progress bar."""
    rows = np.zeros((len(image_ids), num_classes), dtype=bool)
    for row, image_id in enumerate(
        tqdm(image_ids, desc="class presence", unit="image", leave=False, disable=not image_ids, delay=1.0)
    ):
        rows[row] = presence_row(read_label, image_id, num_classes, short_side)
    return rows


class PresenceIndex:
    """Presence rows of one :class:`PresenceKey`, on disk under ``root`` and in memory once read.

    ``root=None`` keeps the rows in memory only (this object's lifetime), computed once per image.
    """

    def __init__(self, root: Path | None, key: PresenceKey, num_classes: int, checkpoint_every: int = CHECKPOINT_EVERY):
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        self.root = Path(root) if root is not None else None
        self.key, self.num_classes, self.checkpoint_every = key, num_classes, checkpoint_every
        self._rows: dict[str, np.ndarray] = {}

    @property
    def path(self) -> Path | None:
        """The index file, or None for a memory-only index."""
        if self.root is None:
            return None
        return self.root / self.key.dataset / f"{self.key.digest}.safetensors"

    def rows(self, image_ids: Sequence[str], read_label: ReadLabel, row_name: RowName | None = None) -> np.ndarray:
        """(P, K) bool presence of ``image_ids``: from memory, else the file, else computed and stored.
        ``row_name(id)`` names an image's row (``reader.label_digest``); default the id (labels made in memory)."""
        names = [row_name(i) for i in image_ids] if row_name is not None else list(image_ids)
        if any(n not in self._rows for n in names):
            self._rows.update(self.read())
        missing = list(dict.fromkeys((n, i) for n, i in zip(names, image_ids, strict=True) if n not in self._rows))
        pending: dict[str, np.ndarray] = {}
        for name, image_id in tqdm(
            missing, desc="class presence", unit="image", leave=False, disable=not missing, delay=1.0
        ):
            pending[name] = presence_row(read_label, image_id, self.num_classes, self.key.short_side)
            if len(pending) == self.checkpoint_every:
                self._store(pending)  # an interrupted computation keeps what it did
                pending = {}
        if pending:
            self._store(pending)
        if not image_ids:
            return np.zeros((0, self.num_classes), dtype=bool)
        return np.stack([self._rows[n] for n in names])

    def read(self) -> dict[str, np.ndarray]:
        """Every row stored on disk ({} when there is no entry; an unreadable one is reported and ignored)."""
        if self.path is None or not self.path.exists():
            return {}
        try:
            with safe_open(str(self.path), framework="np") as handle:
                metadata = handle.metadata() or {}
                presence = handle.get_tensor("presence")
            if metadata.get("key") != self.key.to_json():
                raise ValueError(f"it was written for another key: {metadata.get('key')}")
            ids = json.loads(metadata["image_ids"])
            if presence.dtype != np.bool_ or presence.shape != (len(ids), self.num_classes):
                raise ValueError(
                    f"presence is {presence.dtype}{presence.shape}, expected bool ({len(ids)}, {self.num_classes})"
                )
        except (SafetensorError, OSError, ValueError, KeyError, TypeError) as error:
            warnings.warn(
                f"ignoring the unreadable presence index {self.path} ({error}); it will be rebuilt", stacklevel=2
            )
            return {}
        return dict(zip(ids, presence, strict=True))

    def _store(self, new_rows: dict[str, np.ndarray]) -> None:
        """Merge ``new_rows`` into the file (re-read under the lock: other writers' rows are kept)."""
        if self.path is None:
            self._rows.update(new_rows)
            return
        with file_lock(self.path.with_name(f".{self.path.name}.lock")):
            merged = {**self.read(), **self._rows, **new_rows}
            ids = list(merged)
            presence = np.stack([merged[i] for i in ids]) if ids else np.zeros((0, self.num_classes), bool)
            metadata = {"key": self.key.to_json(), "image_ids": json.dumps(ids)}
            with atomic_target(self.path) as tmp:
                save_file({"presence": np.ascontiguousarray(presence, dtype=bool)}, str(tmp), metadata=metadata)
        self._rows = merged
