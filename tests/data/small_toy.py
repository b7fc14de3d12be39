"""A small embedded toy dataset (15 train / 4 val images) with a reader that counts label reads.

Shared by the presence-index and CLI tests: ``RunContext`` and the ``split`` command see
it as an ordinary dataset spec, and ``CountingReader.label_reads`` tells whether labels were
touched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rns_bench.backbones.base import Backbone
from rns_bench.data.datasets import DatasetSpec
from rns_bench.data.readers.voc_layout import VOCLayout, VOCReader
from rns_bench.features.settings import ExtractionSettings
from rns_bench.features.store import FeatureStore
from rns_bench.toy.dataset import TOY_CLASSES
from rns_bench.toy.files import toy_dataset_dir, write_toy_dataset

N_TRAIN, N_VAL = 15, 4


class CountingReader(VOCReader):
    """A real VOC reader that counts ``read_label`` calls (per instance)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.label_reads = 0

    def read_label(self, image_id: str) -> np.ndarray:
        self.label_reads += 1
        return super().read_label(image_id)


def small_toy_spec(key: str = "toy_small", data_version: str = "small-v1") -> DatasetSpec:
    """The toy world's classes over the small dataset ``write_small_toy`` writes under the data root."""
    return DatasetSpec(
        key=key,
        class_file="toy.txt",
        data_version=data_version,
        make_reader=lambda root: CountingReader(VOCLayout(toy_dataset_dir(root, 0)), num_classes=TOY_CLASSES),
    )


def write_small_toy(data_root: Path) -> Path:
    return write_toy_dataset(data_root, seed=0, n_train=N_TRAIN, n_val=N_VAL)


class NoFeatures(Backbone):
    """A backbone for contexts that only draw splits: it has no features to give."""

    name, patch_size, dim = "no_features", 16, 4

    def __init__(self):
        super().__init__()

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        raise AssertionError("drawing a support split must not extract features")

    def encode_text(self, class_names: list[str]) -> torch.Tensor:
        raise AssertionError("drawing a support split must not encode text")


def split_only_store(short_side: int | None) -> FeatureStore:
    return FeatureStore(NoFeatures(), cache=None, settings=ExtractionSettings(short_side=short_side))
