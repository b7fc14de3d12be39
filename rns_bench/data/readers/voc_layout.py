"""Reader for the PASCAL VOC on-disk layout (protocol §1), shared by every split-file dataset.

``<root>/JPEGImages/<id>.jpg``, ``<root>/SegmentationClass/<id>.png`` (palette PNG: the
pixel values are class indices, 255 = ignore) and ``<root>/ImageSets/Segmentation/<split>.txt``
(one image id per line). Folder names and suffixes are fields of :class:`VOCLayout`, so
Pascal Context (``SegmentationClassContext``, ``ImageSets/SegmentationContext``) or embedded
datasets reuse the reader with other names. Reading and label validation live in
:class:`~rns_bench.data.readers.label_reader.SegmentationReader`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rns_bench.core.errors import InputError
from rns_bench.data.readers.label_reader import DEFAULT_FIX, IGNORE_INDEX, SegmentationReader

__all__ = ["IGNORE_INDEX", "VOCLayout", "VOCReader"]


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


class VOCReader(SegmentationReader):
    """Image ids, RGB images and validated label maps of a dataset in a :class:`VOCLayout`.

    ``num_classes`` is K after ``reduce_zero_label`` (mmseg semantics: raw 0 → 255 ignore,
    raw v → v − 1, 255 stays 255). ``fix`` is appended to missing-file errors (e.g. how to
    download or prepare the dataset).
    """

    def __init__(self, layout: VOCLayout, num_classes: int, reduce_zero_label: bool = False, fix: str = DEFAULT_FIX):
        super().__init__(Path(layout.root), num_classes, reduce_zero_label, fix)
        self.layout = layout

    def image_ids(self, split: str) -> list[str]:
        """Ids listed in ``<split>.txt``, in file order (support sampling depends on it, §2).

        Every listed id must have its image and label file (checked here, named if missing).
        """
        path = self.layout.split_file(split)
        if not path.is_file():
            self.require_root()
            raise InputError(
                f"split file not found: {path}. Valid splits are the *.txt files in {path.parent}; {self.fix}"
            )
        ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if not ids:
            raise InputError(f"split file {path} lists no image ids; {self.fix}")
        self.require_files(split, ids)
        return ids

    def image_path(self, image_id: str) -> Path:
        return self.layout.image_path(image_id)

    def label_path(self, image_id: str) -> Path:
        return self.layout.label_path(image_id)

    def files_hint(self) -> str:
        return (
            f"Every id in the split files needs an image in {self.layout.image_dir}/ and a label in "
            f"{self.layout.label_dir}/"
        )
