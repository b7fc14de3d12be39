"""Reader for layouts without split files, whose images are a folder listing (protocol §1).

COCO-Stuff/COCO-Object (``images/train2017/*.jpg``), Cityscapes
(``leftImg8bit/train/<city>/*_leftImg8bit.png``) and ADE20K (``images/training/*.jpg``): a
split is a folder under the image folder, and its label folder mirrors it with another suffix.

The image order is mmsegmentation 1.x's, because support sampling draws by position (§2):
``BaseSegDataset.load_data_list`` (no ``ann_file``) lists the split folder with mmengine's
``LocalBackend.list_dir_or_file(recursive=True, suffix=img_suffix)`` and sorts by
``img_path = join(img_dir, relative path)``. See :func:`list_images_mmseg_order`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rns_bench.core.errors import InputError
from rns_bench.data.readers.label_reader import DEFAULT_FIX, SegmentationReader


@dataclass(frozen=True)
class ListedLayout:
    """Where the files of one directory-listed dataset live.

    Image id = ``<split>/<path under the split folder, minus image_suffix>``, e.g.
    ``val2017/000000000139`` or ``train/aachen/aachen_000000_000019``: unique across splits
    and enough to find both files.
    """

    root: Path
    image_dir: str
    label_dir: str
    image_suffix: str
    label_suffix: str
    # Folders above the split (ACDC: rgb_anon/<fog|night|rain|snow>/<split>/...): a split is then the
    # union of <image_dir>/<group>/<split> over the groups, in this order, ids <group>/<split>/<path>.
    groups: tuple[str, ...] = ()

    def split_dirs(self, split: str) -> list[tuple[str, Path]]:
        """(id prefix, folder) of every folder holding the images of ``split``."""
        if not self.groups:
            return [(split, Path(self.root) / self.image_dir / split)]
        return [(f"{group}/{split}", Path(self.root) / self.image_dir / group / split) for group in self.groups]

    def split_dir(self, split: str) -> Path:
        return self.split_dirs(split)[0][1]

    def label_split_dir(self, prefix: str) -> Path:
        return Path(self.root) / self.label_dir / prefix

    def image_path(self, image_id: str) -> Path:
        return Path(self.root) / self.image_dir / f"{image_id}{self.image_suffix}"

    def label_path(self, image_id: str) -> Path:
        return Path(self.root) / self.label_dir / f"{image_id}{self.label_suffix}"


def list_images_mmseg_order(folder: Path, suffix: str) -> list[str]:
    """Paths of the files under ``folder`` ending in ``suffix``, relative to it, in mmseg order.

    Mirrors mmengine 0.10 ``LocalBackend.list_dir_or_file`` as mmseg 1.2.2 calls it: files
    whose name starts with '.' are skipped, every sub-folder is descended into (hidden ones
    and symlinked ones too), and the result is sorted as plain ``str`` — by the relative path
    *with* its suffix, which is the order of ``join(img_dir, path)`` for one ``img_dir``.
    """
    found: list[str] = []

    def scan(directory: str) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                if not entry.name.startswith(".") and entry.is_file():
                    relative = os.path.relpath(entry.path, folder)
                    if relative.endswith(suffix):
                        found.append(relative)
                elif os.path.isdir(entry.path):
                    scan(entry.path)

    scan(os.fspath(folder))
    return sorted(found)


class ListedReader(SegmentationReader):
    """Image ids (folder listing, mmseg order), RGB images and validated labels of a :class:`ListedLayout`.

    ``split`` is the folder name on disk (``train2017``, ``training``, ``val``, ...). A split's
    listing is computed once per reader (COCO's train split is 118k files).
    """

    def __init__(self, layout: ListedLayout, num_classes: int, reduce_zero_label: bool = False, fix: str = DEFAULT_FIX):
        super().__init__(Path(layout.root), num_classes, reduce_zero_label, fix)
        self.layout = layout
        self._listings: dict[str, list[str]] = {}

    def image_ids(self, split: str) -> list[str]:
        """``<split>/<relative path minus suffix>`` of every image of ``split``, in mmseg order.

        Every image must have its label file (checked here, the first missing one is named).
        """
        if split not in self._listings:
            self._listings[split] = self._list_split(split)
        return list(self._listings[split])

    def image_path(self, image_id: str) -> Path:
        return self.layout.image_path(image_id)

    def label_path(self, image_id: str) -> Path:
        return self.layout.label_path(image_id)

    def files_hint(self) -> str:
        layout = self.layout
        return (
            f"Every image <split>/<name>{layout.image_suffix} under {layout.image_dir}/ needs its label "
            f"{layout.label_dir}/<split>/<name>{layout.label_suffix}"
        )

    def _list_split(self, split: str) -> list[str]:
        suffix = self.layout.image_suffix
        ids: list[str] = []
        for prefix, folder in self.layout.split_dirs(split):
            if not folder.is_dir():
                self.require_root()
                raise InputError(
                    f"split folder not found: {folder}. Valid splits are the folders in "
                    f"{folder.parent}: {_subfolders(folder.parent)}; {self.fix}"
                )
            label_folder = self.layout.label_split_dir(prefix)
            if not label_folder.is_dir():
                raise InputError(
                    f"label folder not found: {label_folder} (the labels of the images in {folder}); {self.fix}"
                )
            ids += [f"{prefix}/{relative[: -len(suffix)]}" for relative in list_images_mmseg_order(folder, suffix)]
        if not ids:
            where = " or ".join(str(folder) for _, folder in self.layout.split_dirs(split))
            raise InputError(f"split folder {where} holds no *{suffix} images; {self.fix}")
        self.require_files(split, ids)
        return ids


def _subfolders(folder: Path) -> str:
    names = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    return ", ".join(names) or "(none)"
