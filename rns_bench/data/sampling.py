"""Seeded B-shot support sampling, exactly as the authors' released code draws it (protocol §2).

Three pure functions, one per step of the spec, plus the split record runs cite:

* ``sample_pool``: §2.1, at most 5000 train images, drawn with numpy's legacy seeding;
* ``class_presence``: §2.2, which classes a (support-resized) label map contains;
* ``sample_support``: §2.3-5, the greedy per-class draw with torch generators;
* ``SupportSplit``: the resulting image ids with B, seed, dataset and a content sha256.

Every random call mirrors the released code call for call; do not "tidy" one into an
equivalent-looking call, the support sets would change for the same seed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from rns_bench.core.errors import InputError

POOL_CAP = 5000
PROTOCOL_VERSION = "rns-v1"
_NUMPY_SEED_LIMIT = 2**32  # np.random.seed accepts 0 <= seed < 2**32


def _check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int in [minimum, maximum), else an InputError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum or (maximum is not None and value >= maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum})"
        raise InputError(f"{name} must be {bound}, got {value}")
    return int(value)


def sample_pool(num_images: int, seed: int, cap: int = POOL_CAP) -> np.ndarray:
    """Indices of the support pool into the train split, in pool order (§2.1).

    Returns an (P,) int64 array, P = min(num_images, cap). Above ``cap`` images it is
    ``np.random.seed(seed); np.random.choice(num_images, cap, replace=False)`` -- in the order
    numpy draws them, *not* sorted; otherwise ``arange(num_images)`` (file order).

    The draw uses a private ``RandomState(seed)``: the legacy ``np.random.*`` functions are
    bound methods of one global ``RandomState``, so this gives the identical indices (tests
    check it against the literal global calls) while leaving the caller's global state alone.
    """
    num_images = _check_int("num_images", num_images, 0)
    seed = _check_int("seed", seed, 0, _NUMPY_SEED_LIMIT)
    cap = _check_int("cap", cap, 1)
    if num_images <= cap:
        return np.arange(num_images, dtype=np.int64)
    idx = np.random.RandomState(seed).choice(num_images, cap, replace=False)
    return idx.astype(np.int64, copy=False)


def class_presence(label_map: np.ndarray, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """(K,) bool: class c has at least one pixel in the (H, W) integer ``label_map`` (§2.2).

    Pixels equal to ``ignore_index`` count for nothing. Any other value outside [0, K) is an
    error rather than silently dropped: it means the labels and the class list disagree.
    Call it on the label map *after* the support resize, as §2.2 requires.
    """
    num_classes = _check_int("num_classes", num_classes, 1)
    labels = np.asarray(label_map)
    if labels.ndim != 2:
        raise InputError(f"label_map must be a 2-D (H, W) array, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"label_map must hold integer class indices, got dtype {labels.dtype}")
    valid = labels[labels != ignore_index]
    if valid.size and (valid.min() < 0 or valid.max() >= num_classes):
        bad = np.unique(valid[(valid < 0) | (valid >= num_classes)])[:10].tolist()
        raise InputError(
            f"label_map holds values {bad} outside [0, {num_classes}) that are not the ignore index "
            f"{ignore_index}; check the dataset's class count and reduce_zero_label setting"
        )
    return np.bincount(valid.astype(np.int64, copy=False), minlength=num_classes) > 0


def _as_presence(presence: np.ndarray) -> np.ndarray:
    """``presence`` as a (P, K) bool array; bool or 0/1 numbers are accepted, nothing else."""
    array = np.asarray(presence)
    if array.ndim != 2:
        raise InputError(f"presence must be a 2-D (pool images, classes) array, got shape {array.shape}")
    if array.dtype == np.bool_:
        return array
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise InputError(f"presence must be bool (or 0/1 numbers), got dtype {array.dtype}")
    if not np.isin(array, (0, 1)).all():
        raise InputError("presence must be bool (or 0/1 numbers); it holds values other than 0 and 1")
    return array.astype(bool)


def _class_label(c: int, class_names: Sequence[str] | None) -> str:
    return f"{class_names[c]!r} (class index {c})" if class_names is not None else f"class index {c}"


def draw_support(
    presence: np.ndarray, shots: int, seed: int, class_names: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """§2.3-4 step by step: the selected mask (P,) bool and the counted hits (K,) int64.

    ``count[c]`` is the spec's counter: an image drawn again for a later class is counted
    again (it is stored once in the mask). ``sample_support`` is the public entry point; this
    one also returns the counter so tests can state properties about it.
    """
    present = _as_presence(presence)
    shots = _check_int("shots", shots, 1)
    seed = _check_int("seed", seed, -(2**63), 2**64)  # torch.Generator.manual_seed's range
    num_images, num_classes = present.shape
    if class_names is not None and len(class_names) != num_classes:
        raise InputError(f"class_names has {len(class_names)} names but presence has {num_classes} classes")

    selected = np.zeros(num_images, dtype=bool)
    count = np.zeros(num_classes, dtype=np.int64)
    # §2.3: one class order for the whole draw.
    order = torch.randperm(num_classes, generator=torch.Generator().manual_seed(seed))
    for c in order.tolist():
        # §2.4: candidates in pool order; the check (and shuffle) come before the skip test,
        # so a class nobody contains fails even when earlier draws already "covered" it.
        candidates = np.flatnonzero(present[:, c])
        if candidates.size == 0:
            raise InputError(
                f"no support image contains {_class_label(c, class_names)}: none of the {num_images} "
                "pool images of the support (train) split has a pixel of it after the support resize, "
                "so no B-shot support set exists for this dataset, split and seed"
            )
        # A fresh generator with the same seed for every class, as the released code does.
        perm = torch.randperm(candidates.size, generator=torch.Generator().manual_seed(seed))
        need = shots - int(count[c])
        if need <= 0:
            continue
        taken = candidates[perm[:need].numpy()]
        selected[taken] = True
        count += present[taken].sum(axis=0)  # re-drawn images are counted again (§2.4)
    return selected, count


def sample_support(presence: np.ndarray, shots: int, seed: int, class_names: Sequence[str] | None = None) -> np.ndarray:
    """Pool positions of the B-shot support set, ascending = pool order (§2.3-5).

    ``presence`` is (P, K) bool in pool order (``class_presence`` of every pool image);
    returns a (S,) int64 array of distinct positions into the pool, S <= K * shots. Raises
    ``InputError`` naming the class (from ``class_names`` when given) that no pool image contains.
    """
    selected, _ = draw_support(presence, shots, seed, class_names)
    return np.flatnonzero(selected).astype(np.int64, copy=False)  # §2.5: in pool order


@dataclass(frozen=True)
class SupportSplit:
    """One support split as data (§2): which images, for which B, seed and dataset.

    ``sha256`` hashes a canonical JSON of exactly these fields (sorted keys, compact
    separators, ASCII), so runs can cite the split and two splits compare by hash.
    """

    image_ids: tuple[str, ...]
    shots: int
    seed: int
    dataset: str
    protocol_version: str = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        if isinstance(self.image_ids, str) or not all(isinstance(i, str) for i in self.image_ids):
            raise InputError(f"image_ids must be a sequence of strings, got {self.image_ids!r:.200}")
        object.__setattr__(self, "image_ids", tuple(self.image_ids))
        if len(set(self.image_ids)) != len(self.image_ids):
            raise InputError("image_ids of a support split must be distinct (each image is stored once)")
        object.__setattr__(self, "shots", _check_int("shots", self.shots, 1))
        object.__setattr__(self, "seed", _check_int("seed", self.seed, -(2**63), 2**64))
        for name in ("dataset", "protocol_version"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise InputError(f"{name} must be a non-empty string, got {getattr(self, name)!r}")

    def _content(self) -> dict[str, Any]:
        content = asdict(self)
        content["image_ids"] = list(self.image_ids)
        return content

    @property
    def sha256(self) -> str:
        """Hex sha256 of the canonical JSON of the split's content (not of ``to_json``'s layout)."""
        canonical = json.dumps(self._content(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()

    def to_json(self) -> str:
        """The split and its sha256 as indented JSON, one image id per line (diff-friendly)."""
        return json.dumps({**self._content(), "sha256": self.sha256}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SupportSplit:
        """Parse ``to_json`` output; a stored sha256 that does not match the content is an error."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"support split is not valid JSON: {err}") from err
        if not isinstance(data, dict):
            raise InputError(f"support split JSON must be an object, got {type(data).__name__}")
        stored_hash = data.pop("sha256", None)
        fields = set(cls.__dataclass_fields__)
        unknown, missing = set(data) - fields, {"image_ids", "shots", "seed", "dataset"} - set(data)
        if unknown or missing:
            raise InputError(f"support split JSON has unknown keys {sorted(unknown)} / misses keys {sorted(missing)}")
        if not isinstance(data["image_ids"], list):
            raise InputError("support split JSON: image_ids must be a list of strings")
        split = cls(**{**data, "image_ids": tuple(data["image_ids"])})
        if stored_hash is not None and stored_hash != split.sha256:
            raise InputError(
                f"support split sha256 mismatch: file says {stored_hash}, content hashes to {split.sha256}; "
                "the file was edited by hand or corrupted -- regenerate it"
            )
        return split
