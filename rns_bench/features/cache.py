"""On-disk feature cache: one safetensors file per (dataset, image, backbone settings).

Keyed by everything that changes the features and nothing else (not the method, shots or
seed), so a sweep extracts each image once. Writes go to a temp file that is atomically
renamed, so an interrupted run never leaves a corrupt entry; nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from rns_bench.features.dense import DenseFeatures


def settings_key(settings: dict) -> str:
    """Short stable hash of the backbone/resolution settings."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class FeatureCache:
    """Directory ``root/<dataset>/<backbone>-<settings hash>/<image id>.safetensors``."""

    def __init__(self, root: Path, dataset: str, backbone: str, settings: dict):
        self.dir = Path(root) / dataset / f"{backbone}-{settings_key(settings)}"
        self.settings = settings

    def path(self, image_id: str) -> Path:
        return self.dir / f"{image_id.replace('/', '__')}.safetensors"

    def load(self, image_id: str) -> DenseFeatures | None:
        path = self.path(image_id)
        if not path.exists():
            return None
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError):
            return None  # unreadable entry (e.g. a disk error): recompute and overwrite
        return DenseFeatures(tensors["features"], tuple(tensors["resized_hw"].tolist()))

    def save(self, image_id: str, dense: DenseFeatures) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tensors = {"features": dense.features.contiguous(), "resized_hw": torch.tensor(dense.resized_hw)}
        handle, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
        os.close(handle)
        try:
            save_file(tensors, tmp, metadata={"settings": json.dumps(self.settings, sort_keys=True)})
            os.replace(tmp, self.path(image_id))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
