"""The paper's benchmark datasets, registered by key on their mmseg on-disk layouts (protocol §1).

Eight keys over five sets of files under the data root: ``voc``/``voc20`` share
``VOCdevkit/VOC2012``; ``context``/``context59`` share ``VOCdevkit/VOC2010``; ``coco_object``
and ``coco_stuff`` share ``coco_stuff164k/images`` (labels ``*_instanceTrainIds.png`` resp.
``*_labelTrainIds.png``); ``cityscapes`` is ``cityscapes``; ``ade`` is ``ADEChallengeData2016``.

Split names are the names on disk, so a split in an error message is the folder or split file
to look for: ``train``/``val`` (VOC, Context, Cityscapes), ``train2017``/``val2017`` (COCO),
``training``/``validation`` (ADE20K). Support images come from the first, test images from the
second (§1).

Class lists (``rns_bench/data/classes/<key>.txt``) hold the strings the **release** runs with
(its own dataset classes override mmseg's; they are text prompts, so one string changes the
whole prediction), in mmsegmentation 1.2.2's order. Against mmseg's ``METAINFO`` that means:

* ``voc``/``voc20`` say 'dining table' and 'potted plant' (mmseg: 'diningtable', 'pottedplant');
* ``context``/``context59`` say 'potted plant' (mmseg 1.x: 'pottedplant');
* ``coco_object``: mmseg has no such dataset; the release's list is 'background' followed by the
  80 things of mmseg's COCOStuffDataset, with 'aeroplane' where mmseg says 'airplane'
  (instanceTrainIds: 0 = background incl. stuff and unlabelled, 1..80 = things);
* ``ade``: mmseg and the release spell class 7 'bed ' with a trailing space; the list has it
  stripped to 'bed' (it tokenises identically; the checksum recorded in results is of the
  stripped list). This is the one difference from the release's strings.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from rns_bench.data.datasets import DATASETS, DatasetSpec, class_list
from rns_bench.data.listed_layout import ListedLayout, ListedReader
from rns_bench.data.voc_layout import VOCLayout, VOCReader

VOC2012_ARCHIVE = "VOCtrainval_11-May-2012.tar (http://host.robots.ox.ac.uk/pascal/VOC/voc2012/)"
ADE20K_ARCHIVE = "ADEChallengeData2016.zip (http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip)"


def prepare_command(key: str) -> str:
    """The shell command that converts the shipped annotations of ``key`` into the labels read."""
    return f"python -m rns_bench.data prepare {key}"


def _fix_by_preparing(key: str, data_root: Path) -> str:
    return (f"download the dataset and prepare its labels under the data root {data_root} with "
            f"`{prepare_command(key)}` (or point data_root / $RNS_DATA_ROOT at the folder that holds it)")


def _fix_by_extracting(archive: str, data_root: Path) -> str:
    return (f"download {archive} and extract it under the data root {data_root}; its labels need no "
            f"preparation (or point data_root / $RNS_DATA_ROOT at the folder that holds it)")


def _split_file_reader(data_root: Path, *, folder: str, label_dir: str, split_dir: str, class_file: str,
                       reduce_zero_label: bool, fix: Callable[[Path], str]) -> VOCReader:
    layout = VOCLayout(Path(data_root) / folder, label_dir=label_dir, split_dir=split_dir)
    return VOCReader(layout, num_classes=len(class_list(class_file)), reduce_zero_label=reduce_zero_label,
                     fix=fix(data_root))


def _listed_reader(data_root: Path, *, folder: str, image_dir: str, label_dir: str, image_suffix: str,
                   label_suffix: str, class_file: str, reduce_zero_label: bool,
                   fix: Callable[[Path], str]) -> ListedReader:
    layout = ListedLayout(Path(data_root) / folder, image_dir=image_dir, label_dir=label_dir,
                          image_suffix=image_suffix, label_suffix=label_suffix)
    return ListedReader(layout, num_classes=len(class_list(class_file)), reduce_zero_label=reduce_zero_label,
                        fix=fix(data_root))


# The five file sets (§1 table). partial keeps make_reader picklable (no closures).
_VOC2012 = dict(folder="VOCdevkit/VOC2012", label_dir="SegmentationClass", split_dir="ImageSets/Segmentation",
                fix=partial(_fix_by_extracting, VOC2012_ARCHIVE))
_CONTEXT = dict(folder="VOCdevkit/VOC2010", label_dir="SegmentationClassContext",
                split_dir="ImageSets/SegmentationContext")
_COCO = dict(folder="coco_stuff164k", image_dir="images", label_dir="annotations", image_suffix=".jpg")
_CITYSCAPES = dict(folder="cityscapes", image_dir="leftImg8bit", label_dir="gtFine", image_suffix="_leftImg8bit.png",
                   label_suffix="_gtFine_labelTrainIds.png", fix=partial(_fix_by_preparing, "cityscapes"))
_ADE = dict(folder="ADEChallengeData2016", image_dir="images", label_dir="annotations", image_suffix=".jpg",
            label_suffix=".png", fix=partial(_fix_by_extracting, ADE20K_ARCHIVE))

# Protocol §2: VOC and Cityscapes average over more seeds than the other datasets.
_MANY_SEEDS = {"full_support_seeds": (100, 18, 42, 84, 92, 256, 512, 1024),
               "partial_support_seeds": (100, 18, 42, 84, 92, 128, 256, 512, 1024, 2048, 5096, 8192, 16384,
                                         32768, 65536, 131072)}
_VOC_COUNTS = {"train": 1464, "val": 1449}
_CONTEXT_COUNTS = {"train": 4998, "val": 5105}
_COCO_COUNTS = {"train2017": 118287, "val2017": 5000}

BENCHMARK_DATASETS = (
    DatasetSpec(
        key="voc", class_file="voc.txt", expected_counts=dict(_VOC_COUNTS), **_MANY_SEEDS,
        make_reader=partial(_split_file_reader, **_VOC2012, class_file="voc.txt", reduce_zero_label=False),
        description="PASCAL VOC 2012, 21 classes incl. background; 255 = object boundaries"),
    DatasetSpec(
        key="voc20", class_file="voc20.txt", expected_counts=dict(_VOC_COUNTS),
        make_reader=partial(_split_file_reader, **_VOC2012, class_file="voc20.txt", reduce_zero_label=True),
        description="PASCAL VOC 2012 without background (background → ignored), 20 classes"),
    DatasetSpec(
        key="context", class_file="context.txt", expected_counts=dict(_CONTEXT_COUNTS),
        make_reader=partial(_split_file_reader, **_CONTEXT, class_file="context.txt", reduce_zero_label=False,
                            fix=partial(_fix_by_preparing, "context")),
        description="PASCAL Context, 60 classes incl. background"),
    DatasetSpec(
        key="context59", class_file="context59.txt", expected_counts=dict(_CONTEXT_COUNTS),
        make_reader=partial(_split_file_reader, **_CONTEXT, class_file="context59.txt", reduce_zero_label=True,
                            fix=partial(_fix_by_preparing, "context59")),
        description="PASCAL Context without background (background → ignored), 59 classes"),
    DatasetSpec(
        key="coco_object", class_file="coco_object.txt", support_split="train2017", test_split="val2017",
        expected_counts=dict(_COCO_COUNTS),
        make_reader=partial(_listed_reader, **_COCO, label_suffix="_instanceTrainIds.png",
                            class_file="coco_object.txt", reduce_zero_label=False,
                            fix=partial(_fix_by_preparing, "coco_object")),
        description="COCO-Object: background (stuff + unlabelled) + 80 COCO thing classes"),
    DatasetSpec(
        key="coco_stuff", class_file="coco_stuff.txt", support_split="train2017", test_split="val2017",
        expected_counts=dict(_COCO_COUNTS),
        make_reader=partial(_listed_reader, **_COCO, label_suffix="_labelTrainIds.png",
                            class_file="coco_stuff.txt", reduce_zero_label=False,
                            fix=partial(_fix_by_preparing, "coco_stuff")),
        description="COCO-Stuff 164k, 171 classes"),
    DatasetSpec(
        key="cityscapes", class_file="cityscapes.txt", expected_counts={"train": 2975, "val": 500}, **_MANY_SEEDS,
        make_reader=partial(_listed_reader, **_CITYSCAPES, class_file="cityscapes.txt", reduce_zero_label=False),
        description="Cityscapes (gtFine train ids), 19 classes"),
    DatasetSpec(
        key="ade", class_file="ade.txt", support_split="training", test_split="validation",
        expected_counts={"training": 20210, "validation": 2000},
        make_reader=partial(_listed_reader, **_ADE, class_file="ade.txt", reduce_zero_label=True),
        description="ADE20K (SceneParsing), 150 classes; 0 = other → ignored"),
)

for _spec in BENCHMARK_DATASETS:
    DATASETS.register(_spec.key)(_spec)
