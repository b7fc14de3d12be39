"""Reader for image-segmentation datasets in Hugging Face ``datasets`` form (a declared ``huggingface`` layout).

Three sources, all read through the ``datasets`` library:

* ``disk`` — a ``DatasetDict`` written by ``save_to_disk`` (``load_from_disk``);
* ``parquet`` — parquet files per split (``data_files: {train: "train-*.parquet", ...}``), as the Hub
  stores datasets and as ``Dataset.to_parquet`` writes them;
* ``hub`` — a dataset id on the Hub (``load_dataset``; its cache makes later runs offline). When the
  Hub is needed and cannot be reached, or the environment says offline, it fails in one line saying
  how to get a local copy.

A split is a dataset split by name; its rows, in order, are the pool the sampler draws from (§2).
Image ids are ``<split>/<id_column value>`` (e.g. the file name the row came from, so ids — and
RNS's per-image seeds — equal those of the same images in a folder layout) or ``<split>/<row>``.
The image and label columns are read undecoded (``Image(decode=False)``: the stored file bytes) and
decoded by the same code as files on disk — OpenCV for images, PIL for labels, the same checks —
so the same images give the same numbers in either form.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rns_bench.core.errors import InputError
from rns_bench.core.file_digests import sha256_bytes
from rns_bench.data.readers.label_reader import (
    DEFAULT_FIX,
    TRANSPOSING_ORIENTATIONS,
    SegmentationReader,
    decode_image_bytes,
    decoded_size,
    label_indices,
    open_image,
    reduce_zero_label,
)

SOURCES = ("disk", "parquet", "hub")
OFFLINE_ENV = ("RNS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


@dataclass(frozen=True)
class HFSource:
    """Where a Hugging Face dataset is and which columns hold what."""

    kind: str  # disk | parquet | hub
    location: str  # the folder (disk, parquet) or the Hub id (hub)
    image_column: str = "image"
    label_column: str = "label"
    id_column: str | None = None
    data_files: dict[str, Any] = field(default_factory=dict, hash=False)  # parquet: split → file(s) / glob(s)
    revision: str | None = None  # hub
    name: str | None = None  # hub: the dataset's config name


def load_split(source: HFSource, split: str, fix: str):
    """The ``datasets.Dataset`` of ``split`` (columns as stored); every failure is one InputError."""
    import datasets

    where = f"{source.kind} dataset {source.location}"
    try:
        if source.kind == "disk":
            loaded = datasets.load_from_disk(source.location)
        elif source.kind == "parquet":
            files = {
                name: [str(Path(source.location) / f) for f in ([v] if isinstance(v, str) else list(v))]
                for name, v in source.data_files.items()
            }
            loaded = datasets.load_dataset("parquet", data_files=files)
        else:
            loaded = _load_from_hub(source)
    except InputError:
        raise
    except Exception as error:  # the library raises many types (FileNotFoundError, DatasetNotFoundError, ...)
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        empty = re.search(r"Instruction ['\"]([^'\"]+)['\"] corresponds to no data", first)
        if empty:  # datasets' words for a split with no rows
            raise InputError(
                f"split {empty.group(1)!r} of the {where} has no rows (its data_files match no data); "
                f"check data_files.{empty.group(1)} or choose another split"
            ) from None
        raise InputError(f"cannot load the {where} ({type(error).__name__}: {first}); {fix}") from None
    if isinstance(loaded, datasets.Dataset):
        raise InputError(
            f"the {where} is a single Dataset, not a DatasetDict of named splits; save it as "
            f"DatasetDict({{'train': ..., 'val': ...}}).save_to_disk(...)"
        )
    if split not in loaded:
        raise InputError(
            f"the {where} has no split {split!r}; its splits: {', '.join(loaded)} "
            f"(set support_split / test_split to them)"
        )
    return loaded[split]


def _load_from_hub(source: HFSource):
    import datasets

    offline = [name for name in OFFLINE_ENV if os.environ.get(name) == "1"]
    try:
        return datasets.load_dataset(source.location, source.name, revision=source.revision)
    except Exception as error:
        reason = f"offline ({offline[0]}=1) and not in the local cache" if offline else "the Hub could not be reached"
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        call = ", ".join(
            [repr(source.location)]
            + ([repr(source.name)] if source.name else [])
            + ([f"revision={source.revision!r}"] if source.revision else [])
        )
        raise InputError(
            f"the Hugging Face dataset {source.location!r} is needed but {reason} ({first}). On a "
            f"machine with network run datasets.load_dataset({call}).save_to_disk(DIR), copy DIR "
            f"here and declare source: disk, path: DIR (python -m rns_bench.data fetch --from-hub: "
            f"pass --hub-copy DIR)"
        ) from None


class HFReader(SegmentationReader):
    """Image ids, RGB images and validated labels of a :class:`HFSource` (module doc)."""

    def __init__(self, source: HFSource, num_classes: int, reduce_zero_label: bool = False, fix: str = DEFAULT_FIX):
        super().__init__(Path(source.location), num_classes, reduce_zero_label, fix)
        self.source = source
        self._splits: dict[str, Any] = {}
        self._ids: dict[str, list[str]] = {}  # split → ids in row order
        self._rows: dict[str, tuple[str, int]] = {}  # image id → (split, row)
        self._digests: dict[tuple[str, str], str] = {}  # (image id, column) → sha256 of the cell

    def require_root(self) -> None:
        if self.source.kind != "hub" and not self.root.exists():
            raise InputError(f"dataset folder not found: expected {self.root}; {self.fix}")

    def image_ids(self, split: str) -> list[str]:
        """``<split>/<id>`` of every row of ``split``, in row order."""
        if split not in self._ids:
            self._ids[split] = self._list(split)
        return list(self._ids[split])

    def image_path(self, image_id: str) -> Path:
        return self.root / image_id  # a name for messages: the bytes live in the dataset's arrow files

    def label_path(self, image_id: str) -> Path:
        return self.root / f"{image_id}:{self.source.label_column}"

    def files_hint(self) -> str:
        return f"Every row needs its {self.source.image_column!r} and {self.source.label_column!r} cells"

    def image_digest(self, image_id: str) -> str:
        return self._cell_digest(image_id, self.source.image_column)

    def label_digest(self, image_id: str) -> str:
        return self._cell_digest(image_id, self.source.label_column)

    def _cell_digest(self, image_id: str, column: str) -> str:
        """sha256 of a cell's encoded bytes (the dataset's arrow files hold no per-image files), once per reader."""
        if (image_id, column) not in self._digests:
            self._digests[image_id, column] = sha256_bytes(self._cell(image_id, column))
        return self._digests[image_id, column]

    def read_image(self, image_id: str) -> np.ndarray:
        data = self._cell(image_id, self.source.image_column)
        return decode_image_bytes(np.frombuffer(data, dtype=np.uint8), self._name(image_id, self.source.image_column))

    def read_label(self, image_id: str) -> np.ndarray:
        name = self._name(image_id, self.source.label_column)
        with open_image(io.BytesIO(self._cell(image_id, self.source.label_column))) as label_image:
            label = label_indices(label_image, name)
        image_hw, orientation = decoded_size(
            io.BytesIO(self._cell(image_id, self.source.image_column)), self._name(image_id, self.source.image_column)
        )
        if image_hw != label.shape:
            rotated = f" after its EXIF orientation {orientation}" if orientation in TRANSPOSING_ORIENTATIONS else ""
            raise InputError(
                f"label {name} is {label.shape[0]}x{label.shape[1]} (HxW) but its image is "
                f"{image_hw[0]}x{image_hw[1]}{rotated}; they must match pixel for pixel"
            )
        self.check_label_values(name, label)
        return reduce_zero_label(label) if self.reduce_zero_label else label

    def class_label_names(self, split: str, column: str) -> list[str]:
        """The names of the ``ClassLabel`` feature ``column`` (or a sequence of one) of ``split``."""
        import datasets

        features = self._split(split).features
        if column not in features:
            raise InputError(
                f"classes: feature:{column}: the dataset {self.root} has no column {column!r}; "
                f"columns: {', '.join(features)}"
            )
        feature = features[column]
        feature = getattr(feature, "feature", feature)  # Sequence(ClassLabel) / List(ClassLabel)
        if not isinstance(feature, datasets.ClassLabel):
            raise InputError(
                f"classes: feature:{column}: column {column!r} of {self.root} is "
                f"{type(feature).__name__}, not a ClassLabel; give a class-list file instead"
            )
        return list(feature.names)

    def _list(self, split: str) -> list[str]:
        dataset = self._split(split)
        if self.source.id_column:
            values = [str(v) for v in dataset[self.source.id_column]]
            if len(set(values)) != len(values):
                repeated = next(v for v in values if values.count(v) > 1)
                raise InputError(
                    f"id_column {self.source.id_column!r} of split {split!r} repeats {repeated!r}; "
                    f"image ids must be unique (drop id_column to use row numbers)"
                )
        else:
            values = [str(i) for i in range(len(dataset))]
        if not values:
            raise InputError(f"split {split!r} of {self.root} has no rows; {self.fix}")
        ids = [f"{split}/{value}" for value in values]
        self._rows.update({image_id: (split, row) for row, image_id in enumerate(ids)})
        return list(ids)

    def _split(self, split: str):
        if split not in self._splits:
            self.require_root()
            dataset = load_split(self.source, split, self.fix)
            for column in (self.source.image_column, self.source.label_column):
                if column not in dataset.column_names:
                    raise InputError(
                        f"split {split!r} of {self.root} has no column {column!r}; columns: "
                        f"{', '.join(dataset.column_names)} (set image_column / label_column)"
                    )
                _require_image_column(dataset.features[column], column, split, self.root)
            self._splits[split] = _undecoded(dataset, (self.source.image_column, self.source.label_column))
        return self._splits[split]

    def _cell(self, image_id: str, column: str) -> bytes:
        split = image_id.partition("/")[0]
        if image_id not in self._rows and split not in self._ids:
            self.image_ids(split)
        if image_id not in self._rows:
            raise InputError(f"no image {image_id!r} in split {split!r} of {self.root}")
        name, row = self._rows[image_id]
        value = self._splits[name][row][column]
        data = value.get("bytes") if isinstance(value, dict) else value
        if data is None and isinstance(value, dict) and value.get("path"):
            data = Path(value["path"]).read_bytes()  # an Image cell that stores a path only
        if not isinstance(data, bytes | bytearray) or not data:
            raise InputError(
                f"{self._name(image_id, column)} holds no encoded image bytes ({type(value).__name__}); "
                f"store images as datasets.Image() or binary columns"
            )
        return bytes(data)

    def _name(self, image_id: str, column: str) -> str:
        return f"{self.root} [{image_id}, column {column!r}]"


def _require_image_column(feature: Any, column: str, split: str, root: Path) -> None:
    """An image or label column holds encoded images (datasets.Image, or binary bytes), not class ids or lists."""
    import datasets

    if isinstance(feature, datasets.Image) or (isinstance(feature, datasets.Value) and feature.dtype == "binary"):
        return
    raise InputError(
        f"column {column!r} of split {split!r} of {root} holds {feature!r}, not images: a segmentation "
        f"dataset needs its image and its label map as image cells (datasets.Image; labels as PNGs of "
        f"class indices); set image_column / label_column to those columns"
    )


def _undecoded(dataset, columns: tuple[str, ...]):
    """``dataset`` with its Image columns left as stored bytes (decoded by our own path, module doc)."""
    import datasets

    for column in columns:
        if isinstance(dataset.features[column], datasets.Image):
            dataset = dataset.cast_column(column, datasets.Image(decode=False))
    return dataset
