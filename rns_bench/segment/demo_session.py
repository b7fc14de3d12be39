"""The web demo's state, without the web: one :class:`OpenWorldSegmenter`, its classes and its support set.

A :class:`DemoSession` holds what a visitor of ``python -m rns_bench.demo`` built: class names, support
images with their label maps (indices into the class names, 255 = ignore), the last image segmented. Each
change goes through the segmenter, so it costs what it adds (a new name's text feature, a new picture's
features); the session keeps the pictures and labels so that the support set can be exported as the
``segment`` command's folder (``images/`` + ``masks/`` + ``classes.txt``, :func:`export_support`) and
rebuilt on another backbone or method (:meth:`DemoSession.switched`). Painting a class on a picture that
is already a support image adds to its label (the painted pixels take the new class). Backbones are
built once per process and shared by every session (:func:`shared_backbone`).

Every refusal is an :class:`InputError` whose message the page shows as is.
"""

from __future__ import annotations

import threading
import zipfile
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rns_bench.backbones import build_backbone
from rns_bench.backbones.base import Backbone
from rns_bench.core.atomic_io import atomic_target, save_label_png, save_rgb_png, write_text_atomic
from rns_bench.core.errors import InputError
from rns_bench.core.labels import IGNORE_INDEX
from rns_bench.ops.label_maps import voc_colormap
from rns_bench.segment.folders import CLASSES_FILE, find_support, named_support_pairs
from rns_bench.segment.outputs import overlay, write_legend, write_outputs
from rns_bench.segment.painting import as_rgb, new_class_name
from rns_bench.segment.segmenter import OpenWorldSegmenter, backbone_config, check_method, image_key
from rns_bench.toy.example import write_segment_example

KEPT_BACKBONES = 2  # built backbones kept in memory (a real one is hundreds of MB)
PAINTED_PREFIX = "painted_"  # the file stem of a support image painted in the demo


@dataclass
class SupportEntry:
    """One support picture: its file stem on export, its pixels and its label (indices, 255 = ignore)."""

    name: str
    image: np.ndarray
    label: np.ndarray


@dataclass(frozen=True)
class ClassArea:
    """How much of a segmented image one class covers."""

    index: int
    name: str
    colour: str  # "#rrggbb": the class's colour in the overlay and the label PNG's palette
    pixels: int
    fraction: float


@dataclass(frozen=True)
class Segmentation:
    label: np.ndarray  # (H, W) uint8 indices into the class names
    overlay: np.ndarray  # (H, W, 3) uint8: the class colours over the image
    areas: list[ClassArea]  # the classes present, largest first


_BUILT: OrderedDict[str, Backbone] = OrderedDict()
_BUILD_LOCK = threading.Lock()


def shared_backbone(name: str) -> tuple[Backbone, dict[str, Any]]:
    """Backbone ``name`` (``configs/backbone/<name>.yaml``) built once per process, and its config.
    A backbone whose weights are missing raises the loader's one-line InputError (what is missing, how
    to provide it)."""
    config = backbone_config(name)
    with _BUILD_LOCK:
        if name not in _BUILT:
            _BUILT[name] = build_backbone(str(config["name"]), **(config.get("options") or {}))
            while len(_BUILT) > KEPT_BACKBONES:
                _BUILT.popitem(last=False)
        _BUILT.move_to_end(name)
        return _BUILT[name], config


def colour_of(index: int) -> str:
    """The "#rrggbb" palette colour of class ``index`` (the segment command's VOC palette)."""
    return "#" + "".join(f"{channel:02x}" for channel in voc_colormap()[index])


def class_areas(label: np.ndarray, class_names: Sequence[str]) -> list[ClassArea]:
    """The classes present in ``label`` with their pixel counts and shares, largest first."""
    label = np.asarray(label)
    counts = np.bincount(label.ravel(), minlength=len(class_names))
    if len(counts) > len(class_names):
        raise InputError(f"the label holds class {len(counts) - 1} but there are {len(class_names)} class names")
    total = max(int(label.size), 1)
    present = [i for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
    return [
        ClassArea(int(i), class_names[i], colour_of(int(i)), int(counts[i]), float(counts[i] / total)) for i in present
    ]


def read_support_folder(folder: Path) -> tuple[list[str], list[tuple[str, np.ndarray, np.ndarray]]]:
    """The class names and (stem, image, label) support of a ``segment`` support folder (either layout)."""
    support = find_support(Path(folder), [])
    return support.class_names, named_support_pairs(support)


def toy_example(folder: Path) -> tuple[list[str], list[tuple[str, np.ndarray, np.ndarray]], list[Path]]:
    """The toy example of ``python -m rns_bench.data toy-example`` written under ``folder`` (deterministic:
    a rerun rewrites the same bytes): its class names, support and the images to segment."""
    write_segment_example(Path(folder))
    names, support = read_support_folder(Path(folder) / "support")
    return names, support, sorted((Path(folder) / "images").glob("scene_*.jpg"))


def export_support(folder: Path, class_names: Sequence[str], entries: Iterable[SupportEntry]) -> Path:
    """Write the support set as the segment command's images/ + masks/ + classes.txt layout under ``folder``
    (new or empty; every file atomically). Classes without support images stay in classes.txt: segmented
    from their text alone."""
    entries = list(entries)
    folder = Path(folder)
    if not entries:
        raise InputError("no support images to export: paint a class on a picture first")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(f"cannot export the support set into {folder}: it is not an empty folder; give a new one")
    write_text_atomic(folder / CLASSES_FILE, "\n".join(class_names) + "\n")
    for entry in entries:
        save_rgb_png(folder / "images" / f"{entry.name}.png", entry.image)
        save_label_png(folder / "masks" / f"{entry.name}.png", entry.label)
    return folder


def zip_folder(folder: Path) -> Path:
    """``<folder>.zip`` holding every file of ``folder`` by its path inside it (written atomically)."""
    folder = Path(folder)
    archive = folder.with_name(f"{folder.name}.zip")
    with atomic_target(archive) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as packed:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            packed.write(path, path.relative_to(folder).as_posix())
    return archive


class DemoSession:
    """A visitor's classes and support set on one backbone and method (module doc)."""

    def __init__(self, segmenter: OpenWorldSegmenter, backbone: str, method: str, cache_dir: Path | None = None):
        self.segmenter = segmenter
        self.backbone = backbone
        self.method = method
        self.cache_dir = cache_dir
        self.entries: dict[str, SupportEntry] = {}  # image id (sha256 of the pixels) → entry
        self.last_image: tuple[str, np.ndarray] | None = None  # (stem, pixels) of the last image segmented

    @classmethod
    def start(
        cls,
        backbone: str,
        method: str,
        class_names: Sequence[str],
        support: Iterable[tuple[str, np.ndarray, np.ndarray]] = (),
        cache_dir: Path | None = None,
    ) -> DemoSession:
        """A session on ``backbone`` and ``method`` with these classes and (stem, image, label) support."""
        check_method(method)  # before a backbone loads
        built, config = shared_backbone(backbone)
        segmenter = OpenWorldSegmenter(built, config, method, class_names, cache_dir=cache_dir)
        session = cls(segmenter, backbone, method, cache_dir)
        for name, image, label in support:
            session._add_entry(name, as_rgb(np.asarray(image)), np.asarray(label).astype(np.uint8))
        return session

    def switched(self, backbone: str, method: str) -> DemoSession:
        """This session's classes, support and last image on another backbone or method (this one is kept
        unchanged: a backbone that fails to load leaves it as it was)."""
        support = [(e.name, e.image, e.label) for e in self.entries.values()]
        session = DemoSession.start(backbone, method, self.class_names, support, self.cache_dir)
        session.last_image = self.last_image
        return session

    # ---------------------------------------------------------------- vocabulary
    @property
    def class_names(self) -> list[str]:
        return self.segmenter.class_names

    @property
    def support_names(self) -> list[str]:
        return [entry.name for entry in self.entries.values()]

    def add_class(self, name: str, painted: tuple[np.ndarray, np.ndarray] | None = None) -> str:
        """Add class ``name``, from its text alone or with a painted (image, bool mask); says what it did."""
        name = new_class_name(name, self.class_names)
        encoded = self.segmenter.text_encodings
        index = self.segmenter.add_class(name)
        how = "from its name alone"
        if painted is not None:
            try:
                how = self._paint(index, *painted)
            except InputError:
                self.segmenter.remove_class(name)  # all or nothing: no class without the support it came with
                raise
        texts = self.segmenter.text_encodings - encoded
        return f"added class {name!r} (class {index}) {how}; the text encoder ran for {texts} new name(s)"

    def add_support(self, class_name: str, image: np.ndarray, mask: np.ndarray) -> str:
        """Add the painted ``mask`` of the existing class ``class_name`` on ``image``; says what it did."""
        index = self.segmenter.method.class_index(class_name)
        return f"class {class_name!r}: {self._paint(index, image, mask)}"

    def remove_class(self, name: str) -> str:
        """Drop class ``name``: its pixels in every support label become ignored, later classes move down;
        a support image left with no class is dropped."""
        index = self.segmenter.method.class_index(name)
        self.segmenter.remove_class(name)  # the bank drops its rows and renumbers the rest the same way
        dropped = []
        for key, entry in list(self.entries.items()):
            label = entry.label
            shifted = np.where((label > index) & (label != IGNORE_INDEX), label - 1, label)
            entry.label = np.where(label == index, IGNORE_INDEX, shifted).astype(np.uint8)
            if (entry.label == IGNORE_INDEX).all():
                dropped.append(self.entries.pop(key).name)
        gone = f"; support images left with no class dropped: {', '.join(dropped)}" if dropped else ""
        return f"removed class {name!r}{gone}"

    def remove_support(self, name: str) -> str:
        """Drop the support image whose stem is ``name``."""
        for key, entry in self.entries.items():
            if entry.name == name:
                if key in self.segmenter.support_images:
                    self.segmenter.remove_support(key)
                del self.entries[key]
                return f"removed support image {name!r}"
        raise InputError(f"no support image {name!r}; support images: {', '.join(self.support_names) or '(none)'}")

    def support_counts(self) -> list[int]:
        """How many support images mark each class (0: the class is segmented from its text alone)."""
        counts = np.zeros(len(self.class_names), dtype=int)
        for entry in self.entries.values():
            present = np.unique(entry.label)
            counts[present[present != IGNORE_INDEX]] += 1
        return counts.tolist()

    def entry(self, name: str) -> SupportEntry:
        for entry in self.entries.values():
            if entry.name == name:
                return entry
        raise InputError(f"no support image {name!r}; support images: {', '.join(self.support_names) or '(none)'}")

    # ---------------------------------------------------------------- segmenting
    def segment(self, image: np.ndarray, stem: str = "image") -> Segmentation:
        """Segment ``image`` with the current classes and support; it becomes the last image."""
        image = as_rgb(np.asarray(image))
        try:
            label = self.segmenter.segment(image)
        except InputError:
            if self.segmenter.support_images:
                raise
            raise InputError(
                f"no support image yet: paint a class on a picture, or use zero_shot ({self.method} "
                f"segments from support images)"
            ) from None
        self.last_image = (stem, image)
        return Segmentation(label, overlay(image, label), class_areas(label, self.class_names))

    def resegment(self) -> Segmentation | None:
        """The last image segmented again (after a change), None before any."""
        return None if self.last_image is None else self.segment(self.last_image[1], self.last_image[0])

    def write(self, out: Path, segmentation: Segmentation) -> list[Path]:
        """The last image's label PNG and overlay and the legend under ``out`` (the segment command's
        labels/, overlays/, classes.txt); returns the three paths."""
        if self.last_image is None:
            raise InputError("segment an image first")
        stem, image = self.last_image
        write_outputs(out, stem, image, segmentation.label)
        write_legend(out, self.class_names)
        return [out / "labels" / f"{stem}.png", out / "overlays" / f"{stem}.jpg", out / "classes.txt"]

    def export(self, folder: Path) -> Path:
        return export_support(folder, self.class_names, self.entries.values())

    # ---------------------------------------------------------------- internals
    def _paint(self, index: int, image: np.ndarray, mask: np.ndarray) -> str:
        image, mask = as_rgb(np.asarray(image)), np.asarray(mask, dtype=bool)
        if mask.shape != image.shape[:2]:
            raise InputError(
                f"the mask is {mask.shape[0]}x{mask.shape[1]} but its image {image.shape[0]}x{image.shape[1]} "
                f"(HxW); they must match pixel for pixel"
            )
        if not mask.any():
            raise InputError("the mask is empty: paint over the object (the painted pixels are the class)")
        key = image_key(image)
        known = self.entries.get(key)
        if known is None:
            label = np.where(mask, index, IGNORE_INDEX).astype(np.uint8)
            name = self._add_entry(self._painted_name(), image, label)
            return f"painted on a new support image {name!r} ({int(mask.sum())} pixels)"
        label = known.label.copy()
        label[mask] = index  # the newest paint wins over what the picture's label said there
        if key in self.segmenter.support_images:
            self.segmenter.remove_support(key)
        del self.entries[key]
        self._add_entry(known.name, image, label)
        return f"painted on support image {known.name!r} ({int(mask.sum())} pixels)"

    def _add_entry(self, name: str, image: np.ndarray, label: np.ndarray) -> str:
        name = self._unique_name(name)
        key = self.segmenter.add_support(image, label)
        self.entries[key] = SupportEntry(name, image, label)
        return name

    def _painted_name(self) -> str:
        return self._unique_name(f"{PAINTED_PREFIX}1")

    def _unique_name(self, name: str) -> str:
        taken = set(self.support_names)
        if name not in taken:
            return name
        stem = name.rstrip("0123456789").rstrip("_") or "support"
        number = 1
        while f"{stem}_{number}" in taken:
            number += 1
        return f"{stem}_{number}"
