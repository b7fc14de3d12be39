"""Dataset preparation: turn the files a dataset ships into the labels the readers expect (protocol §1).

One module per conversion, each a pure function (input paths → output folder) with atomic
per-file writes and resumption. ``PREPARERS`` maps a dataset key to its step and says where,
under the data root, the step reads and writes by default; ``python -m rns_bench.data prepare
<key>`` runs it. VOC and ADE20K ship their labels ready to use and have no step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rns_bench.core.registry import Registry
from rns_bench.data.prepare.cityscapes import convert_cityscapes
from rns_bench.data.prepare.coco_object import convert_coco_object
from rns_bench.data.prepare.coco_stuff import convert_coco_stuff
from rns_bench.data.prepare.context import convert_context
from rns_bench.data.prepare.conversion import ConversionReport
from rns_bench.data.prepare.cub import convert_cub


@dataclass(frozen=True)
class Preparer:
    """A preparation step: ``convert(source, output, workers)`` with default paths under the data root."""

    convert: Callable[[Path, Path, int], ConversionReport]
    default_source: str  # what the dataset ships, relative to the data root
    output: str  # where the prepared labels go, relative to the data root (the readers' layout)
    description: str

    def run(self, data_root: Path, source: Path | None = None, workers: int = 1) -> ConversionReport:
        """Convert ``source`` (default ``data_root / default_source``) into ``data_root / output``."""
        data_root = Path(data_root).expanduser()
        source = Path(source).expanduser() if source is not None else data_root / self.default_source
        return self.convert(source, data_root / self.output, workers)


PREPARERS: Registry[Preparer] = Registry("preparation step")

_CONTEXT = Preparer(
    convert=convert_context,
    default_source="VOCdevkit/VOC2010/trainval_merged.json",
    output="VOCdevkit/VOC2010",
    description="PASCAL Context trainval_merged.json → SegmentationClassContext/*.png (60 classes) + split files",
)
PREPARERS.register("context")(_CONTEXT)
PREPARERS.register("context59")(_CONTEXT)  # same files; the reader drops class 0 (reduce_zero_label)
PREPARERS.register("coco_stuff")(
    Preparer(
        convert=convert_coco_stuff,
        default_source="coco_stuff164k/annotations",
        output="coco_stuff164k/annotations",
        description="COCO-Stuff 164k raw maps → *_labelTrainIds.png (171 train ids, 255 ignored)",
    )
)
PREPARERS.register("coco_object")(
    Preparer(
        convert=convert_coco_object,
        default_source="coco_stuff164k/annotations",
        output="coco_stuff164k/annotations",
        description="COCO-Stuff 164k raw maps → *_instanceTrainIds.png (80 things → 1..80, rest → 0)",
    )
)
PREPARERS.register("cityscapes")(
    Preparer(
        convert=convert_cityscapes,
        default_source="cityscapes/gtFine",
        output="cityscapes/gtFine",
        description="Cityscapes gtFine polygons → *_gtFine_labelTrainIds.png (19 train ids) via cityscapesscripts",
    )
)
PREPARERS.register("cub")(
    Preparer(
        convert=convert_cub,
        default_source="CUB_200_2011",
        output="CUB_200_2011",
        description="CUB-200-2011 soft masks → images_detectron2 / annotations_detectron2 {train,test} (MESS: > 128 "
        "→ class 1..200, else 0 = background)",
    )
)


def get_preparer(key: str) -> Preparer:
    """The preparation step of dataset ``key``; an unknown key lists the valid ones."""
    return PREPARERS.get(key)


__all__ = ["PREPARERS", "ConversionReport", "Preparer", "get_preparer"]
