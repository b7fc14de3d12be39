"""Datasets by key: where they live on disk, how to read them, their class list."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from rns_bench.core.errors import InputError
from rns_bench.core.registry import Registry

DATA_ROOT_ENV = "RNS_DATA_ROOT"


@dataclass(frozen=True)
class DatasetSpec:
    """A benchmark dataset (protocol §1).

    make_reader(data_root) returns a reader with ``image_ids(split)``, ``read_image(id)``
    and ``read_label(id)``; ``prepare(data_root)`` writes embedded datasets (None for real
    ones, which must already be on disk).
    """

    key: str
    class_file: str
    make_reader: Callable[[Path], object]
    prepare: Callable[[Path], object] | None = None
    support_split: str = "train"
    test_split: str = "val"
    description: str = ""
    data_version: str = ""  # changes when the files change (a regenerated embedded dataset): keys the cache
    # Published support seeds (protocol §2): full support, and partial support.
    full_support_seeds: tuple[int, ...] = (100, 18, 42, 84)
    partial_support_seeds: tuple[int, ...] = (100, 18, 42, 84, 92, 256, 512, 1024)
    # Images per split on disk (split name → count), checked by ``rns_bench.data.verify``; empty = unchecked.
    expected_counts: dict[str, int] = field(default_factory=dict, hash=False)
    # Class names given with the dataset itself (a Hugging Face ClassLabel); empty: read class_file.
    names: tuple[str, ...] = ()

    def class_names(self) -> list[str]:
        return list(self.names) if self.names else class_list(self.class_file)

    def class_list_sha256(self) -> str:
        return hashlib.sha256("\n".join(self.class_names()).encode()).hexdigest()


DATASETS: Registry[DatasetSpec] = Registry(
    "dataset"
)  # datasets registered in code (rns_bench.toy); the rest are declared


def class_list(file_name: str) -> list[str]:
    """Class names from the package data file ``rns_bench/data/classes/<file_name>``, verbatim (an
    absolute path: that file, as a declared dataset's ``classes``, rns_bench.data.declared)."""
    if Path(file_name).is_absolute():
        return [line.rstrip("\n") for line in Path(file_name).read_text(encoding="utf-8").splitlines() if line.strip()]
    return list(_read_class_list(file_name))


@functools.cache
def _read_class_list(file_name: str) -> tuple[str, ...]:
    # Read once per process: runs ask for class names many times.
    text = resources.files("rns_bench.data").joinpath("classes", file_name).read_text()
    return tuple(line.rstrip("\n") for line in text.splitlines() if line.strip())


def get_dataset(key: str) -> DatasetSpec:
    return DATASETS.get(key)


def resolve_data_root(configured: str | os.PathLike | None) -> Path:
    """The data directory: the config value, else ``$RNS_DATA_ROOT``, else ``./data``."""
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get(DATA_ROOT_ENV, "data")).expanduser()


def require_dir(path: Path, dataset: str, fix: str) -> None:
    if not path.is_dir():
        raise InputError(f"dataset {dataset!r} not found: expected the folder {path}. {fix}")
