"""The embedded ``toy`` dataset: generated on first use, then read like any VOC-layout dataset."""

from __future__ import annotations

from pathlib import Path

from rns_bench.data.datasets import DATASETS, DatasetSpec
from rns_bench.data.readers.voc_layout import VOCLayout, VOCReader
from rns_bench.toy.files import GENERATOR_VERSION, ensure_toy_dataset, toy_dataset_dir

TOY_SEED = 0  # the world seed of the default benchmark; the toy_vlm backbone uses the same
TOY_CLASSES = 16


def _prepare(data_root: Path) -> Path:
    return ensure_toy_dataset(data_root, TOY_SEED)


def _reader(data_root: Path) -> VOCReader:
    return VOCReader(
        VOCLayout(toy_dataset_dir(data_root, TOY_SEED)),
        num_classes=TOY_CLASSES,
        fix=f"the toy dataset is regenerated on first use: delete {toy_dataset_dir(data_root, TOY_SEED)} and rerun",
    )


DATASETS.register("toy")(
    DatasetSpec(
        key="toy",
        class_file="toy.txt",
        make_reader=_reader,
        prepare=_prepare,
        data_version=f"toy-v{GENERATOR_VERSION}-seed{TOY_SEED}",
        description=f"embedded synthetic benchmark (generator v{GENERATOR_VERSION}, world seed {TOY_SEED})",
    )
)
