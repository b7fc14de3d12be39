"""The paper's benchmark datasets, declared in ``configs/dataset/<key>.yaml`` on their mmseg on-disk
layouts (protocol §1) and registered here by key from those files, so ``get_dataset("voc")`` and
``dataset=voc`` read the same declaration (``rns_bench.data.declared``).

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

from pathlib import Path

from omegaconf import OmegaConf

from rns_bench.core.paths import CONFIG_DIR
from rns_bench.data.datasets import DATASETS, DatasetSpec
from rns_bench.data.declared import declared_dataset

DECLARATIONS = CONFIG_DIR / "dataset"
BENCHMARK_KEYS = ("voc", "voc20", "context", "context59", "coco_object", "coco_stuff", "cityscapes", "ade")


def benchmark_spec(key: str) -> DatasetSpec:
    """The spec of benchmark ``key`` from its declaration (``configs/dataset/<key>.yaml``)."""
    block = OmegaConf.to_container(OmegaConf.load(DECLARATIONS / f"{key}.yaml"), resolve=True)["dataset"]
    # Class lists are package files and fixes name the data root when a reader is made: no root needed here.
    return declared_dataset(block, Path("."))


BENCHMARK_DATASETS = tuple(benchmark_spec(key) for key in BENCHMARK_KEYS)

for _spec in BENCHMARK_DATASETS:
    DATASETS.register(_spec.key)(_spec)
