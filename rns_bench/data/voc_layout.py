"""Reader for the PASCAL VOC on-disk layout (protocol §1), shared by every VOC-style dataset.

``<root>/JPEGImages/<id>.jpg``, ``<root>/SegmentationClass/<id>.png`` (palette PNG: the
pixel values are class indices, 255 = ignore) and ``<root>/ImageSets/Segmentation/<split>.txt``
(one image id per line). Folder names and suffixes are fields of :class:`VOCLayout`, so
Context, ADE-style or embedded datasets reuse the reader with other names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from rns_bench.errors import InputError

IGNORE_INDEX = 255
# Palette (P) labels hold class indices; greyscale (L) is how Cityscapes/ADE-style ids ship.
_LABEL_MODES = ("P", "L")


@dataclass(frozen=True)
class VOCLayout:
    """Where the files of one VOC-style dataset live."""

    root: Path
    image_dir: str = "JPEGImages"
    label_dir: str = "SegmentationClass"
    split_dir: str = "ImageSets/Segmentation"
    image_suffix: str = ".jpg"
    label_suffix: str = ".png"

    def split_file(self, split: str) -> Path:
        return Path(self.root) / self.split_dir / f"{split}.txt"

    def image_path(self, image_id: str) -> Path:
        return Path(self.root) / self.image_dir / f"{image_id}{self.image_suffix}"

    def label_path(self, image_id: str) -> Path:
        return Path(self.root) / self.label_dir / f"{image_id}{self.label_suffix}"


class VOCReader:
    """Image ids, RGB images and validated label maps of a dataset in a :class:`VOCLayout`.

    ``num_classes`` is K after ``reduce_zero_label`` (mmseg semantics: raw 0 → 255 ignore,
    raw v → v − 1, 255 stays 255). ``fix`` is appended to missing-file errors (e.g. how to
    download or prepare the dataset).
    """

    def __init__(self, layout: VOCLayout, num_classes: int, reduce_zero_label: bool = False,
                 fix: str = "check the dataset root and that the dataset was extracted completely"):
        if not 0 < num_classes <= IGNORE_INDEX:
            raise InputError(f"num_classes must be in 1..{IGNORE_INDEX}, got {num_classes}")
        self.layout = layout
        self.num_classes = num_classes
        self.reduce_zero_label = reduce_zero_label
        self.fix = fix

    def image_ids(self, split: str) -> list[str]:
        """Ids listed in ``<split>.txt``, in file order (support sampling depends on it, §2)."""
        path = self.layout.split_file(split)
        if not path.is_file():
            raise InputError(f"split file not found: {path}. Valid splits are the *.txt files in "
                             f"{path.parent}; {self.fix}")
        ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if not ids:
            raise InputError(f"split file {path} lists no image ids; {self.fix}")
        return ids

    def read_image(self, image_id: str) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        path = self._existing(self.layout.image_path(image_id), "image")
        with _open(path) as image:
            return np.array(image.convert("RGB"), dtype=np.uint8)

    def read_label(self, image_id: str) -> np.ndarray:
        """(H, W) uint8 class indices in 0..K−1 or 255, same size as the image."""
        path = self._existing(self.layout.label_path(image_id), "label")
        with _open(path) as label_image:
            if label_image.mode not in _LABEL_MODES:
                raise InputError(f"label file {path} has PIL mode {label_image.mode!r}; expected a palette "
                                 f"('P') or greyscale ('L') PNG of class indices. Convert it to 8-bit.")
            # np.array of a "P" image gives palette indices; converting to RGB would give colours.
            label = np.array(label_image, dtype=np.uint8)
        self._check_size(image_id, path, label.shape)
        self._check_values(path, label)
        return _reduce_zero_label(label) if self.reduce_zero_label else label

    def _existing(self, path: Path, what: str) -> Path:
        if not path.is_file():
            raise InputError(f"{what} file not found: {path}. Every id in the split files needs an image in "
                             f"{self.layout.image_dir}/ and a label in {self.layout.label_dir}/; {self.fix}")
        return path

    def _check_size(self, image_id: str, label_path: Path, label_hw: tuple[int, ...]) -> None:
        image_path = self._existing(self.layout.image_path(image_id), "image")
        try:
            with Image.open(image_path) as image:  # header only: no pixel decoding
                image_hw = (image.height, image.width)
        except (OSError, SyntaxError, ValueError) as error:
            raise InputError(f"cannot read {image_path}: {error}. Re-extract or re-download it.") from error
        if image_hw != tuple(label_hw):
            raise InputError(f"label {label_path} is {label_hw[0]}x{label_hw[1]} (HxW) but its image "
                             f"{image_path} is {image_hw[0]}x{image_hw[1]}; they must match pixel for pixel")

    def _check_values(self, path: Path, label: np.ndarray) -> None:
        raw_limit = self.num_classes + int(self.reduce_zero_label)  # raw values allowed: 0..raw_limit−1
        values = np.unique(label)
        bad = values[(values >= raw_limit) & (values != IGNORE_INDEX)]
        if bad.size:
            shift = " (raw value; reduce_zero_label maps v to v-1)" if self.reduce_zero_label else ""
            raise InputError(f"label file {path} contains value {int(bad[0])}{shift}, but the dataset has "
                             f"K={self.num_classes} classes: valid raw values are 0..{raw_limit - 1} and "
                             f"{IGNORE_INDEX} (ignore). Check the class list and the label preparation step.")


def _open(path: Path) -> Image.Image:
    """Open and fully decode an image; unreadable or truncated files become InputError."""
    try:
        image = Image.open(path)
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise InputError(f"cannot read {path}: {error}. The file is corrupt or truncated; "
                         f"re-extract or re-download it.") from error
    return image


def _reduce_zero_label(label: np.ndarray) -> np.ndarray:
    """mmseg ``reduce_zero_label``: 0 → 255, v → v − 1, 255 stays 255."""
    reduced = label.astype(np.int16) - 1
    reduced[label == 0] = IGNORE_INDEX
    reduced[label == IGNORE_INDEX] = IGNORE_INDEX
    return reduced.astype(np.uint8)


def voc_colormap() -> np.ndarray:
    """(256, 3) uint8 PASCAL VOC palette (bit-interleaved class index; 255 → (224, 224, 192))."""
    colours = np.zeros((256, 3), np.uint8)
    for index in range(256):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        colours[index] = (r, g, b)
    return colours
