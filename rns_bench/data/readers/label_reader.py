"""Reading RGB images and validated label maps, whatever the on-disk layout (protocol §1).

A layout reader (:class:`~rns_bench.data.readers.voc_layout.VOCReader` for split-file layouts,
:class:`~rns_bench.data.readers.listed_layout.ListedReader` for directory-listed ones) says which ids
a split holds and where an id's image and label live; :class:`SegmentationReader` does the
reading and every check, so all datasets fail the same way on the same bad file:

* images are decoded as the release decodes them (mmcv ``imfrombytes(flag='color', backend='cv2')``
  then BGR → RGB): OpenCV's ``IMREAD_COLOR``, which applies the EXIF orientation tag — PIL does
  not, so a tagged JPEG decodes rotated here and upright in PIL. Labels are read with PIL as
  mmseg's ``LoadAnnotations`` does ('unchanged': palette indices, no orientation);
* a missing dataset folder, image or label file names the expected path and the fix;
* an unreadable or truncated file names the file;
* a label in another PIL mode than palette ('P') or greyscale ('L'), of another size than
  its image, or holding a value ≥ K that is not 255 (after ``reduce_zero_label``) names the
  file and the value.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image

from rns_bench.core.errors import InputError
from rns_bench.core.file_digests import FileDigests, sha256_bytes
from rns_bench.core.labels import IGNORE_INDEX

EXIF_ORIENTATION = 0x0112
TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap height and width
# Palette (P) labels hold class indices; greyscale (L) is how Cityscapes/ADE-style ids ship.
_LABEL_MODES = ("P", "L")
DEFAULT_FIX = "check the dataset root and that the dataset was extracted completely"


class SegmentationReader(ABC):
    """Image ids, (H, W, 3) uint8 RGB images and validated (H, W) uint8 label maps.

    ``num_classes`` is K after ``reduce_zero_label`` (mmseg semantics: raw 0 → 255 ignore,
    raw v → v − 1, 255 stays 255). ``fix`` is appended to missing-file errors (e.g. the
    command that prepares the dataset). Subclasses implement :meth:`image_ids`,
    :meth:`image_path` and :meth:`label_path`.
    """

    def __init__(self, root: Path, num_classes: int, reduce_zero_label: bool = False, fix: str = DEFAULT_FIX):
        if not 0 < num_classes <= IGNORE_INDEX:
            raise InputError(f"num_classes must be in 1..{IGNORE_INDEX}, got {num_classes}")
        self.root = Path(root)
        self.num_classes = num_classes
        self.reduce_zero_label = reduce_zero_label
        self.fix = fix
        # sha256 of file contents, by (path, size, mtime); a run shares an on-disk table (use_file_digests).
        self.file_digests = FileDigests()

    @abstractmethod
    def image_ids(self, split: str) -> list[str]:
        """Ids of ``split`` in the dataset's canonical order (support sampling depends on it, §2)."""

    @abstractmethod
    def image_path(self, image_id: str) -> Path:
        """Where the image of ``image_id`` lives."""

    @abstractmethod
    def label_path(self, image_id: str) -> Path:
        """Where the label map of ``image_id`` lives."""

    def files_hint(self) -> str:
        """One sentence on where images and labels belong, for missing-file errors."""
        return "Every image needs its label file"

    def use_file_digests(self, digests: FileDigests) -> None:
        """Remember content digests in ``digests`` (e.g. an on-disk table shared by every job)."""
        self.file_digests = digests

    def image_digest(self, image_id: str) -> str:
        """sha256 of the image file's bytes: what features and region maps are keyed by."""
        return self.file_digests.of(self._existing(self.image_path(image_id), "image"))

    def label_digest(self, image_id: str) -> str:
        """sha256 of the label file's bytes: what presence rows are keyed by."""
        return self.file_digests.of(self._existing(self.label_path(image_id), "label"))

    def contents_sha256(self, image_ids: Sequence[str]) -> str:
        """One sha256 of ``image_ids`` with their image and label contents, in order: the data identity of
        a test split or a support split (records are keyed by it, so changed files re-run what they touch)."""
        lines = "\n".join(f"{i} {self.image_digest(i)} {self.label_digest(i)}" for i in image_ids)
        self.file_digests.flush()
        return sha256_bytes(lines.encode())

    def read_image(self, image_id: str) -> np.ndarray:
        """(H, W, 3) uint8 RGB, decoded as the release does (:func:`decode_image`)."""
        return decode_image(self._existing(self.image_path(image_id), "image"))

    def read_label(self, image_id: str) -> np.ndarray:
        """(H, W) uint8 class indices in 0..K−1 or 255, same size as the image."""
        path = self._existing(self.label_path(image_id), "label")
        with open_image(path) as label_image:
            label = label_indices(label_image, path)
        self._check_size(image_id, path, label.shape)
        self.check_label_values(path, label)
        return reduce_zero_label(label) if self.reduce_zero_label else label

    def check_label_values(self, path: Path, label: np.ndarray) -> None:
        """Raise naming ``path`` if the raw (H, W) ``label`` holds a value ≥ K that is not 255."""
        raw_limit = self.num_classes + int(self.reduce_zero_label)  # raw values allowed: 0..raw_limit−1
        values = np.unique(label)
        bad = values[(values >= raw_limit) & (values != IGNORE_INDEX)]
        if bad.size:
            shift = " (raw value; reduce_zero_label maps v to v-1)" if self.reduce_zero_label else ""
            raise InputError(
                f"label file {path} contains value {int(bad[0])}{shift}, but the dataset has "
                f"K={self.num_classes} classes: valid raw values are 0..{raw_limit - 1} and "
                f"{IGNORE_INDEX} (ignore). Check the class list and the label preparation step."
            )

    def require_root(self) -> None:
        """Raise naming the expected dataset folder if it does not exist."""
        if not self.root.is_dir():
            raise InputError(f"dataset folder not found: expected {self.root}; {self.fix}")

    def require_files(self, split: str, image_ids: Sequence[str]) -> None:
        """Raise naming the first missing image or label of ``split`` (checked up front, so a
        run does not fail hours in, after the features were extracted)."""
        for what, path_of in (("image", self.image_path), ("label", self.label_path)):
            missing = [i for i in image_ids if not path_of(i).is_file()]
            if missing:
                raise InputError(
                    f"{len(missing)} of the {len(image_ids)} images of split {split!r} have no "
                    f"{what} file, e.g. {path_of(missing[0])} (image id {missing[0]!r}). "
                    f"{self.files_hint()}; {self.fix}"
                )

    def _existing(self, path: Path, what: str) -> Path:
        if not path.is_file():
            self.require_root()
            raise InputError(f"{what} file not found: {path}. {self.files_hint()}; {self.fix}")
        return path

    def _check_size(self, image_id: str, label_path: Path, label_hw: tuple[int, ...]) -> None:
        image_path = self._existing(self.image_path(image_id), "image")
        image_hw, orientation = decoded_size(image_path)
        if image_hw != tuple(label_hw):
            rotated = (
                f" after its EXIF orientation {orientation} (OpenCV, like the release, decodes it "
                f"rotated; strip the tag or rotate the label to match)"
                if orientation in TRANSPOSING_ORIENTATIONS
                else ""
            )
            raise InputError(
                f"label {label_path} is {label_hw[0]}x{label_hw[1]} (HxW) but its image "
                f"{image_path} is {image_hw[0]}x{image_hw[1]}{rotated}; they must match pixel for pixel"
            )


def label_indices(label_image: Image.Image, name: object) -> np.ndarray:
    """(H, W) uint8 class indices of a palette or greyscale label image; another mode names ``name``."""
    if label_image.mode not in _LABEL_MODES:
        raise InputError(
            f"label file {name} has PIL mode {label_image.mode!r}; expected a palette "
            f"('P') or greyscale ('L') PNG of class indices. Convert it to 8-bit."
        )
    # np.array of a "P" image gives palette indices; converting to RGB would give colours.
    return np.array(label_image, dtype=np.uint8)


def decode_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB as the release decodes ``path``: ``cv2.imdecode(IMREAD_COLOR)`` (EXIF
    orientation applied, greyscale expanded to three channels), then BGR → RGB. An unreadable or
    truncated file is an InputError naming it."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise InputError(f"cannot read {path}: {error}. Check its permissions, or re-extract it.") from error
    return decode_image_bytes(data, str(path))


def decode_image_bytes(data: np.ndarray, name: str) -> np.ndarray:
    """:func:`decode_image` of an encoded file's bytes (a Hugging Face ``Image`` cell), ``name`` in errors."""
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None or _jpeg_truncated(data):
        raise InputError(
            f"cannot read {name}: OpenCV cannot decode it; the file is corrupt or truncated. "
            f"Re-extract or re-download it."
        )
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _jpeg_truncated(data: np.ndarray) -> bool:
    """A JPEG whose last scan has no end-of-image marker after it (older OpenCV builds decode such a
    file with a warning, filling the missing rows with grey)."""
    blob = data.tobytes()
    return blob[:2] == b"\xff\xd8" and blob.rfind(b"\xff\xd9") < blob.rfind(b"\xff\xda")


def decoded_size(path: Path | BinaryIO, name: object = None) -> tuple[tuple[int, int], int]:
    """((H, W) of the image as :func:`decode_image` returns it, EXIF orientation) from the header alone
    (``path``: a file, or an open binary stream with ``name`` for errors)."""
    name = path if name is None else name
    try:
        with Image.open(path) as image:  # header only: no pixel decoding
            orientation = int(image.getexif().get(EXIF_ORIENTATION, 1))
            height, width = image.height, image.width
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(f"cannot read {name}: {error}. Re-extract or re-download it.") from error
    return ((width, height) if orientation in TRANSPOSING_ORIENTATIONS else (height, width)), orientation


def open_image(path: Path) -> Image.Image:
    """Open and fully decode an image; unreadable or truncated files become InputError."""
    image = None
    try:
        image = Image.open(path)
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        if image is not None:
            image.close()
        raise InputError(
            f"cannot read {path}: {error}. The file is corrupt or truncated; re-extract or re-download it."
        ) from error
    return image


def reduce_zero_label(label: np.ndarray) -> np.ndarray:
    """mmseg ``reduce_zero_label`` on an (H, W) uint8 map: 0 → 255, v → v − 1, 255 stays 255."""
    reduced = label.astype(np.int16) - 1
    reduced[label == 0] = IGNORE_INDEX
    reduced[label == IGNORE_INDEX] = IGNORE_INDEX
    return reduced.astype(np.uint8)
