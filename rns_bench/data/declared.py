"""Datasets declared in a config file instead of registered in code: a layout class and its instance.

A ``dataset:`` config block with a ``layout`` key declares the dataset (``configs/dataset/<key>.yaml``;
the README has an example); a block with only ``key`` names a registered one (the eight benchmarks,
``toy``). The two mmseg layouts the benchmarks use are available:

* ``folder_listed`` — ``<folder>/<image_dir>/<split>/**/*<image_suffix>`` with labels at the same
  relative path under ``<label_dir>`` (``*<label_suffix>``); ids listed in mmseg's sorted order;
* ``split_file`` — ``<folder>/<split_dir>/<split>.txt`` lists the ids, images in ``<image_dir>``,
  labels in ``<label_dir>`` (PASCAL VOC style).

``classes`` is a text file, one class name per line (used verbatim as the prompt), absolute or
relative to ``<data_root>/<folder>``. The declaration itself keys the feature cache (``data_version``),
so a changed folder, suffix or class file never reuses features or records of the old one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.core.labels import IGNORE_INDEX
from rns_bench.data.datasets import DatasetSpec, get_dataset
from rns_bench.data.listed_layout import ListedLayout, ListedReader
from rns_bench.data.voc_layout import VOCLayout, VOCReader

COMMON = {"key", "layout", "folder", "classes", "reduce_zero_label", "support_split", "test_split", "description",
          "expected_counts", "full_support_seeds", "partial_support_seeds"}
LAYOUT_KEYS = {
    "folder_listed": {"image_dir": None, "label_dir": None, "image_suffix": None, "label_suffix": None},
    "split_file": {"image_dir": "JPEGImages", "label_dir": "SegmentationClass", "split_dir": "ImageSets/Segmentation",
                   "image_suffix": ".jpg", "label_suffix": ".png"},
}
REQUIRED = ("key", "layout", "folder", "classes")


def dataset_spec(dataset: Mapping[str, Any] | str, data_root: Path) -> DatasetSpec:
    """The spec of a ``dataset:`` config block: declared (has ``layout``) or registered (``key`` only)."""
    if isinstance(dataset, str):
        return get_dataset(dataset)
    if "layout" not in dataset:
        return get_dataset(str(dataset["key"]))
    return declared_dataset(dataset, data_root)


def declared_dataset(declaration: Mapping[str, Any], data_root: Path) -> DatasetSpec:
    """A ``DatasetSpec`` from a declaration (module doc); every mistake is one ConfigError naming the key."""
    where = f"dataset {declaration.get('key', '?')!r} (configs/dataset/<key>.yaml)"
    missing = [key for key in REQUIRED if declaration.get(key) in (None, "")]
    if missing:
        raise ConfigError(f"{where} needs {', '.join(missing)}; see the README's 'your own dataset' example")
    layout = str(declaration["layout"])
    if layout not in LAYOUT_KEYS:
        raise ConfigError(f"{where}: layout {layout!r} unknown; choose one of {', '.join(LAYOUT_KEYS)}")
    unknown = set(declaration) - COMMON - set(LAYOUT_KEYS[layout])
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} for layout {layout}; valid: "
                          f"{sorted(COMMON | set(LAYOUT_KEYS[layout]))}")
    files = {name: declaration.get(name, default) for name, default in LAYOUT_KEYS[layout].items()}
    unset = [name for name, value in files.items() if value is None]
    if unset:
        raise ConfigError(f"{where}: layout {layout} needs {', '.join(unset)}")
    root = Path(data_root) / str(declaration["folder"])
    class_path = Path(str(declaration["classes"])).expanduser()
    class_path = class_path if class_path.is_absolute() else root / class_path
    names = read_class_file(class_path, where)
    reduce_zero_label = bool(declaration.get("reduce_zero_label", False))
    fix = (f"put the dataset under {root} as declared in {where} (layout {layout}), or point data_root / "
           f"$RNS_DATA_ROOT at the folder that holds {declaration['folder']}")
    reader_class, layout_class = (ListedReader, ListedLayout) if layout == "folder_listed" else (VOCReader, VOCLayout)
    make_reader = partial(_declared_reader, reader_class, layout_class, str(declaration["folder"]),
                          {name: str(value) for name, value in files.items()}, len(names), reduce_zero_label, fix)
    identity = json.dumps({**{k: declaration[k] for k in sorted(declaration)}, "class_names": names},
                          sort_keys=True, default=str)
    seeds = {name: tuple(int(s) for s in declaration[name])
             for name in ("full_support_seeds", "partial_support_seeds") if declaration.get(name)}
    return DatasetSpec(
        key=str(declaration["key"]), class_file=str(class_path), make_reader=make_reader,
        support_split=str(declaration.get("support_split", "train")),
        test_split=str(declaration.get("test_split", "val")),
        description=str(declaration.get("description", f"declared dataset ({layout}) under {root}")),
        data_version="declared-" + hashlib.sha256(identity.encode()).hexdigest()[:16],
        expected_counts={str(k): int(v) for k, v in (declaration.get("expected_counts") or {}).items()}, **seeds)


def read_class_file(path: Path, where: str) -> list[str]:
    """Class names, one per line (blank lines skipped); a missing or unusable file names itself."""
    try:
        names = [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{where}: cannot read its class list {path} ({error}); write one class name per "
                         f"line there, or set dataset.classes to the file") from error
    if not names or len(names) > IGNORE_INDEX:
        raise InputError(f"{where}: its class list {path} has {len(names)} names; give 1..{IGNORE_INDEX}")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise InputError(f"{where}: its class list {path} repeats {duplicated[:5]}; class names must be unique")
    return names


def _declared_reader(reader_class: type, layout_class: type, folder: str, files: dict[str, str], num_classes: int,
                     reduce_zero_label: bool, fix: str, data_root: Path) -> object:
    # A module-level function under partial: make_reader stays picklable (DataLoader workers, DDP).
    return reader_class(layout_class(Path(data_root) / folder, **files), num_classes=num_classes,
                        reduce_zero_label=reduce_zero_label, fix=fix)
