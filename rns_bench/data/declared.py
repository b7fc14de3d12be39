"""Datasets declared in a config file instead of registered in code: a layout class and its instance.

A ``dataset:`` config block with a ``layout`` key declares the dataset (``configs/dataset/<key>.yaml``;
docs/datasets.md has an example; the eight benchmarks are declared so too); a block with only ``key``
names a registered one (``toy``) or a declaration file (``spec_for_key``). Layouts:

* ``folder_listed`` — ``<folder>/<image_dir>/<split>/**/*<image_suffix>`` with labels at the same
  relative path under ``<label_dir>`` (``*<label_suffix>``); ids listed in mmseg's sorted order;
* ``split_file`` — ``<folder>/<split_dir>/<split>.txt`` lists the ids, images in ``<image_dir>``,
  labels in ``<label_dir>`` (PASCAL VOC style);
* ``huggingface`` — a ``datasets`` dataset on disk, as parquet files or on the Hub (``data.hf_layout``).

``classes`` is a text file, one class name per line (used verbatim as the prompt), absolute or
relative to ``<data_root>/<folder>``; ``package:<name>.txt`` names a list shipped in
``rns_bench/data/classes`` (Food, CUB and ACDC use that). ``fix`` replaces the default hint of a
missing-file error (where to download, which ``prepare`` step to run; ``{data_root}`` in it becomes the
data root); ``data_version`` pins the cache key (the eight benchmarks keep ``""``, so their caches and
records from before they were declared stay valid; change it when the files change); ``groups`` (folder_listed)
names folders above the split (ACDC's weather conditions). The declaration itself keys the feature
cache (``data_version``), so a changed folder, suffix or class file never reuses features or records
of the old one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from rns_bench.core.errors import ConfigError, InputError, UnknownNameError
from rns_bench.core.labels import IGNORE_INDEX
from rns_bench.core.paths import CONFIG_DIR
from rns_bench.data.datasets import DATASETS, DatasetSpec, class_list, get_dataset
from rns_bench.data.readers.hf_layout import SOURCES, HFReader, HFSource
from rns_bench.data.readers.listed_layout import ListedLayout, ListedReader
from rns_bench.data.readers.voc_layout import VOCLayout, VOCReader

COMMON = {
    "key",
    "layout",
    "folder",
    "classes",
    "reduce_zero_label",
    "support_split",
    "test_split",
    "description",
    "expected_counts",
    "full_support_seeds",
    "partial_support_seeds",
    "fix",
    "data_version",
}
PACKAGE_CLASSES = "package:"
DATA_ROOT_FIELD = "{data_root}"  # in a fix: the data root the reader was made for
FEATURE_CLASSES = "feature:"
REQUIRED_VALUE = None  # a layout key whose default is this must be given
LAYOUT_KEYS = {
    "folder_listed": {"image_dir": None, "label_dir": None, "image_suffix": None, "label_suffix": None, "groups": ()},
    "split_file": {
        "image_dir": "JPEGImages",
        "label_dir": "SegmentationClass",
        "split_dir": "ImageSets/Segmentation",
        "image_suffix": ".jpg",
        "label_suffix": ".png",
    },
    # rns_bench.data.readers.hf_layout: source disk | parquet | hub; path = folder (disk, parquet) or Hub id.
    "huggingface": {
        "source": None,
        "path": None,
        "data_files": {},
        "image_column": "image",
        "label_column": "label",
        "id_column": "",
        "revision": "",
        "name": "",
    },
}
REQUIRED = ("key", "layout", "classes")
NEEDS_FOLDER = ("folder_listed", "split_file")
DECLARATIONS = CONFIG_DIR / "dataset"


def dataset_spec(dataset: Mapping[str, Any] | str, data_root: Path) -> DatasetSpec:
    """The spec of a ``dataset:`` config block: declared (has ``layout``), or a key alone (``spec_for_key``)."""
    if isinstance(dataset, str):
        return spec_for_key(dataset, data_root)
    if "layout" not in dataset:
        return spec_for_key(str(dataset["key"]), data_root)
    return declared_dataset(dataset, data_root)


def spec_for_key(key: str, data_root: Path) -> DatasetSpec:
    """Dataset ``key``: registered in code (``toy``), else declared in ``configs/dataset/<key>.yaml`` (the
    benchmarks and every other real dataset: the commands that take a key, ``python -m rns_bench.data verify
    food``, see what ``dataset=food`` sees)."""
    if key in DATASETS.names():
        return DATASETS.get(key)
    path = DECLARATIONS / f"{key}.yaml"
    if not path.is_file():
        declared = sorted(p.stem for p in DECLARATIONS.glob("*.yaml"))
        raise UnknownNameError("dataset", key, sorted(set(DATASETS.names()) | set(declared)))
    block = OmegaConf.to_container(OmegaConf.load(path), resolve=True).get("dataset")
    if not isinstance(block, dict):
        raise ConfigError(f"{path} has no dataset: block; see configs/dataset/food.yaml for a declared dataset")
    # a block without a layout names a dataset registered in code
    return declared_dataset(block, data_root) if "layout" in block else get_dataset(str(block["key"]))


def declared_dataset(declaration: Mapping[str, Any], data_root: Path) -> DatasetSpec:
    """A ``DatasetSpec`` from a declaration (module doc); every mistake is one ConfigError naming the key."""
    where = f"dataset {declaration.get('key', '?')!r} (configs/dataset/<key>.yaml)"
    layout, files = _checked_layout(declaration, where)
    reduce_zero_label = bool(declaration.get("reduce_zero_label", False))
    support_split = str(declaration.get("support_split", "train"))
    if layout == "huggingface":
        root, class_file, names, make_reader = _huggingface_parts(
            declaration, files, data_root, where, support_split, reduce_zero_label
        )
    else:
        root, class_file, names, make_reader = _folder_parts(
            declaration, layout, files, data_root, where, reduce_zero_label
        )
    identity = json.dumps(
        {**{k: declaration[k] for k in sorted(declaration)}, "class_names": names}, sort_keys=True, default=str
    )
    seeds = {
        name: tuple(int(s) for s in declaration[name])
        for name in ("full_support_seeds", "partial_support_seeds")
        if declaration.get(name)
    }
    return DatasetSpec(
        key=str(declaration["key"]),
        class_file=class_file,
        make_reader=make_reader,
        names=tuple(names) if class_file.startswith(FEATURE_CLASSES) else (),
        support_split=support_split,
        test_split=str(declaration.get("test_split", "val")),
        description=str(declaration.get("description", f"declared dataset ({layout}) under {root}")),
        data_version=(
            str(declaration["data_version"])
            if "data_version" in declaration
            else "declared-" + hashlib.sha256(identity.encode()).hexdigest()[:16]
        ),
        expected_counts={str(k): int(v) for k, v in (declaration.get("expected_counts") or {}).items()},
        **seeds,
    )


def _checked_layout(declaration: Mapping[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    """(layout, its keys' values with the defaults filled in) of a declaration whose keys are all known and
    of their types, and whose required keys are all given."""
    missing = [key for key in REQUIRED if declaration.get(key) in (None, "")]
    if str(declaration.get("layout")) in NEEDS_FOLDER and declaration.get("folder") in (None, ""):
        missing.append("folder")
    if missing:
        raise ConfigError(f"{where} needs {', '.join(missing)}; see the example in docs/datasets.md")
    layout = str(declaration["layout"])
    if layout not in LAYOUT_KEYS:
        raise ConfigError(f"{where}: layout {layout!r} unknown; choose one of {', '.join(LAYOUT_KEYS)}")
    unknown = set(declaration) - COMMON - set(LAYOUT_KEYS[layout])
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(unknown)} for layout {layout}; valid: "
            f"{sorted(COMMON | set(LAYOUT_KEYS[layout]))}"
        )
    _check_types(declaration, where)
    files = {
        name: default if declaration.get(name) is None else declaration[name]  # null = the default
        for name, default in LAYOUT_KEYS[layout].items()
    }
    unset = [name for name, value in files.items() if value is None]
    if unset:
        raise ConfigError(f"{where}: layout {layout} needs {', '.join(unset)}")
    return layout, files


def _huggingface_parts(
    declaration: Mapping[str, Any],
    files: dict[str, Any],
    data_root: Path,
    where: str,
    support_split: str,
    reduce_zero_label: bool,
) -> tuple[Path, str, list[str], Callable[[Path], object]]:
    """(root, class_file, class names, make_reader) of a ``huggingface`` declaration."""
    source = _hf_source(files, data_root, where)
    root = Path(source.location)
    fix = str(declaration.get("fix") or f"check huggingface source {source.kind} {source.location} in {where}")
    fix = fix.replace(DATA_ROOT_FIELD, str(data_root))
    class_file, names = _class_list(
        str(declaration["classes"]),
        root if source.kind != "hub" else Path(data_root),
        where,
        hf=(source, support_split, fix),
    )
    return root, class_file, names, partial(_hf_reader, source, len(names), reduce_zero_label, fix)


def _folder_parts(
    declaration: Mapping[str, Any],
    layout: str,
    files: dict[str, Any],
    data_root: Path,
    where: str,
    reduce_zero_label: bool,
) -> tuple[Path, str, list[str], Callable[[Path], object]]:
    """(root, class_file, class names, make_reader) of a ``folder_listed`` or ``split_file`` declaration."""
    root = Path(data_root) / str(declaration["folder"])
    class_file, names = _class_list(str(declaration["classes"]), root, where)
    fix = str(
        declaration.get("fix")
        or f"put the dataset under {{data_root}}/{declaration['folder']} as declared in {where} (layout {layout})"
    )
    fix += f" (or point data_root / $RNS_DATA_ROOT at the folder that holds {declaration['folder']})"
    reader_class, layout_class = (ListedReader, ListedLayout) if layout == "folder_listed" else (VOCReader, VOCLayout)
    files = {name: tuple(str(v) for v in value) if name == "groups" else str(value) for name, value in files.items()}
    make_reader = partial(
        _declared_reader,
        reader_class,
        layout_class,
        str(declaration["folder"]),
        files,
        len(names),
        reduce_zero_label,
        fix,
    )
    return root, class_file, names, make_reader


BOOL_KEYS = ("reduce_zero_label",)
SEED_KEYS = ("full_support_seeds", "partial_support_seeds")
MAPPING_KEYS = ("expected_counts", "data_files")
LIST_KEYS = ("groups",)
SAFE_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # a folder name under results/, caches, presence


def _check_types(declaration: Mapping[str, Any], where: str) -> None:
    """Every value of the type its key takes, in one line naming the key: a quoted "false" is not false, a list
    is not a split name, a key with ``..`` or ``/`` would write outside the results and cache folders."""
    key = declaration["key"]
    if not isinstance(key, str) or not SAFE_KEY.match(key) or ".." in key:
        raise ConfigError(
            f"{where}: key {key!r} must be a plain name (letters, digits, _ . -; no / or ..): it "
            "names folders under results_dir and the caches"
        )
    for name, value in declaration.items():
        problem = None if value is None else _type_problem(name, value)
        if problem is not None:
            raise ConfigError(f"{where}: {name}: {value!r} {problem}")


def _type_problem(name: str, value: Any) -> str | None:
    """What a (non-null) value of key ``name`` must be, when it is not; else None."""
    if name in BOOL_KEYS:
        return None if isinstance(value, bool) else "must be true or false (unquoted)"
    if name in SEED_KEYS:
        seeds = isinstance(value, list | tuple) and not any(
            isinstance(s, bool) or not isinstance(s, int) for s in value
        )
        return None if seeds else "must be a list of whole numbers"
    if name == "expected_counts":
        counts = isinstance(value, Mapping) and not any(
            isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in value.values()
        )
        return None if counts else "must map split names to image counts"
    if name == "data_files":
        return None if isinstance(value, Mapping) else "must map split names to files or globs"
    if name in LIST_KEYS:
        folders = isinstance(value, list | tuple) and all(isinstance(g, str) for g in value)
        return None if folders else "must be a list of folder names"
    if name == "data_version" and isinstance(value, int | float) and not isinstance(value, bool):
        return None  # data_version: 2 is as good as "2"
    if isinstance(value, str):
        return None
    return f"must be a string (e.g. {name}: {'val' if 'split' in name else '.png' if 'suffix' in name else 'images'})"


def _hf_source(files: dict[str, Any], data_root: Path, where: str) -> HFSource:
    kind = str(files["source"])
    if kind not in SOURCES:
        raise ConfigError(f"{where}: source {kind!r} unknown; choose one of {', '.join(SOURCES)}")
    location = str(files["path"])
    if kind != "hub":
        path = Path(location).expanduser()
        location = str(path if path.is_absolute() else Path(data_root) / path)
    data_files = dict(files["data_files"] or {})
    if kind == "parquet" and not data_files:
        raise ConfigError(f"{where}: source parquet needs data_files: {{<split>: <file or glob>, ...}} under its path")
    return HFSource(
        kind,
        location,
        image_column=str(files["image_column"]),
        label_column=str(files["label_column"]),
        id_column=str(files["id_column"]) or None,
        data_files=data_files,
        revision=str(files["revision"]) or None,
        name=str(files["name"]) or None,
    )


def _hf_reader(source: HFSource, num_classes: int, reduce_zero_label: bool, fix: str, data_root: Path) -> HFReader:
    return HFReader(source, num_classes=num_classes, reduce_zero_label=reduce_zero_label, fix=fix)


def _class_list(
    classes: str, root: Path, where: str, hf: tuple[HFSource, str, str] | None = None
) -> tuple[str, list[str]]:
    """(class_file for the spec, names): a shipped list (``package:<name>``), a file (module doc), or a
    Hugging Face dataset's ClassLabel column (``feature:<column>``, read from the support split)."""
    if classes.startswith(FEATURE_CLASSES):
        if hf is None:
            raise ConfigError(f"{where}: classes {classes!r} needs layout huggingface; give a class-list file")
        source, split, fix = hf
        names = HFReader(source, num_classes=1, fix=fix).class_label_names(split, classes[len(FEATURE_CLASSES) :])
        return classes, _checked_names(names, f"{where}: the ClassLabel {classes!r}")
    if classes.startswith(PACKAGE_CLASSES):
        name = classes[len(PACKAGE_CLASSES) :]
        try:
            return name, class_list(name)
        except (FileNotFoundError, OSError) as error:
            shipped = sorted(p.name for p in resources.files("rns_bench.data").joinpath("classes").iterdir())
            raise ConfigError(
                f"{where}: classes {classes!r}: no such list shipped with rns_bench ({error}); "
                f"shipped: {', '.join(shipped)}"
            ) from None
    path = Path(classes).expanduser()
    path = path if path.is_absolute() else root / path
    return str(path), read_class_file(path, where)


def read_class_file(path: Path, where: str) -> list[str]:
    """Class names, one per line (blank lines skipped); a missing or unusable file names itself."""
    try:
        names = [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(
            f"{where}: cannot read its class list {path} ({error}); write one class name per "
            f"line there, or set dataset.classes to the file"
        ) from error
    return _checked_names(names, f"{where}: its class list {path}")


def _checked_names(names: list[str], what: str) -> list[str]:
    if not names or len(names) > IGNORE_INDEX:
        raise InputError(f"{what} has {len(names)} names; give 1..{IGNORE_INDEX}")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise InputError(f"{what} repeats {duplicated[:5]}; class names must be unique")
    return names


def _declared_reader(
    reader_class: type,
    layout_class: type,
    folder: str,
    files: dict[str, str],
    num_classes: int,
    reduce_zero_label: bool,
    fix: str,
    data_root: Path,
) -> object:
    # A module-level function under partial: make_reader stays picklable (DataLoader workers, DDP).
    return reader_class(
        layout_class(Path(data_root) / folder, **files),
        num_classes=num_classes,
        reduce_zero_label=reduce_zero_label,
        fix=fix.replace(DATA_ROOT_FIELD, str(data_root)),
    )
