"""On-disk feature cache: one safetensors file per (image content, backbone, extraction setting).

Keyed by everything that changes the features (``FeatureKey``: backbone name and options, short
side, windows, storage dtype, the autocast dtype of the extraction, cache format) and nothing else
(not the dataset, the method, shots or seed); entries are named by the sha256 of the image file's
bytes (``SegmentationReader.image_digest``), so a sweep extracts each image once, datasets that
share images (voc / voc20, context / context59, coco_object / coco_stuff) share entries, and a
changed or replaced image file is extracted again. Test and support features have different
settings and so different keys (features.md "Feature cache").

    <root>/<backbone>-<key digest>/key.json                       the key, for humans
    <root>/<backbone>-<key digest>/<content>.safetensors      features (h, w, D), resized_hw (2,)
                                                                  metadata: the key JSON and the entry name

Every write goes to a temporary file in the same folder, renamed onto the entry with
``os.replace`` (atomic on POSIX): a reader or a concurrent writer sees the old entry, the new
one or none, never a partial one, and a killed writer leaves only its ``.*.tmp`` file, which
loads ignore and the next writer removes. Nothing is ever unpickled; an unreadable or
mismatching entry is reported and recomputed. Caches of the layout before (``<root>/<dataset>/...``,
format ``dense-v3``) are not read: delete those folders to free their space.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from rns_bench.core.atomic_io import atomic_target, remove_stale_temps, write_text_atomic
from rns_bench.core.errors import ConfigError
from rns_bench.features.dense import DenseFeatures
from rns_bench.features.settings import ExtractionSettings
from rns_bench.ops.resize import PIXEL_PIPELINE

# Bump when the stored layout or the way features are computed changes: old entries then stop matching.
CACHE_FORMAT = "dense-v4"  # v4: entries named by image content (v3: by dataset and image id)
# Backbone options that say where to run or where to find files, not what to compute: not part of the key.
RUNTIME_OPTIONS = frozenset({"device", "hf_cache_dir"})
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16}
# The dtype the backbone runs in under torch.autocast while extracting ("none": its own, float32).
AUTOCAST_DTYPES = {"none": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


def settings_key(settings: dict) -> str:
    """Short stable hash of a JSON-able settings dict (16 hex characters)."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class FeatureKey:
    """Everything a cached feature map depends on; a change in any field selects another folder."""

    backbone: str
    backbone_options: str  # canonical JSON of the options minus RUNTIME_OPTIONS
    settings: ExtractionSettings
    storage_dtype: str = "float32"
    autocast: str = "none"  # AUTOCAST_DTYPES: bf16-mixed features differ from float32 ones (~6e-3)
    format: str = CACHE_FORMAT
    pixel_pipeline: str = PIXEL_PIPELINE

    @classmethod
    def create(
        cls,
        backbone: str,
        backbone_options: dict[str, Any],
        settings: ExtractionSettings,
        storage_dtype: str = "float32",
        autocast: str = "none",
    ) -> FeatureKey:
        if storage_dtype not in STORAGE_DTYPES:
            raise ConfigError(f"feature cache dtype must be one of {', '.join(STORAGE_DTYPES)}, got {storage_dtype!r}")
        check_autocast(autocast)
        options = {k: v for k, v in (backbone_options or {}).items() if k not in RUNTIME_OPTIONS}
        return cls(backbone, json.dumps(options, sort_keys=True, default=str), settings, storage_dtype, autocast)

    def to_json(self) -> str:
        fields = {
            "backbone": self.backbone,
            "backbone_options": json.loads(self.backbone_options),
            "settings": self.settings.describe(),
            "storage_dtype": self.storage_dtype,
            "autocast": self.autocast,
            "format": self.format,
            "pixel_pipeline": self.pixel_pipeline,
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    @property
    def digest(self) -> str:
        """16 hex characters of the sha256 of ``to_json``."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def check_autocast(autocast: str) -> None:
    if autocast not in AUTOCAST_DTYPES:
        raise ConfigError(f"extraction autocast must be one of {', '.join(AUTOCAST_DTYPES)}, got {autocast!r}")


class FeatureCache:
    """The entries of one ``FeatureKey`` under ``root`` (see the module docstring for the layout).

    Entries are named by the caller: the image's content digest in a sweep, any unique name elsewhere."""

    def __init__(self, root: Path, key: FeatureKey):
        self.key = key
        self.dir = Path(root) / f"{key.backbone}-{key.digest}"
        self._key_json = key.to_json()
        self._dtype = STORAGE_DTYPES[key.storage_dtype]
        self._ready = False

    def path(self, image_id: str) -> Path:
        """The entry of ``image_id`` (a content digest in a sweep)."""
        return self.dir / f"{image_id.replace('/', '__')}.safetensors"

    def has(self, image_id: str) -> bool:
        """Whether a complete entry of ``image_id`` under this key exists (reads the header only)."""
        try:
            with safe_open(str(self.path(image_id)), framework="pt") as handle:
                metadata = handle.metadata() or {}
        except (SafetensorError, OSError):
            return False
        return metadata.get("key") == self._key_json and metadata.get("image_id") == image_id

    def load(self, image_id: str) -> DenseFeatures | None:
        """The cached features of ``image_id`` in the storage dtype (a float16 cache stays float16 until a
        method needs float32: ``FeatureStore.get``), or None when absent or unusable."""
        path = self.path(image_id)
        if not path.exists():
            return None
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                features, resized_hw = handle.get_tensor("features"), handle.get_tensor("resized_hw")
            if metadata.get("key") != self._key_json or metadata.get("image_id") != image_id:
                raise ValueError(f"it was written for {metadata.get('image_id')!r} under another key")
            if features.ndim != 3 or features.dtype != self._dtype or resized_hw.shape != (2,):
                raise ValueError(
                    f"features are {features.dtype}{tuple(features.shape)}, expected {self._dtype} (h, w, D)"
                )
        except (SafetensorError, OSError, ValueError, KeyError) as error:
            warnings.warn(
                f"ignoring the unreadable feature cache entry {path} ({error}); it will be recomputed", stacklevel=2
            )
            return None
        return DenseFeatures(features, (int(resized_hw[0]), int(resized_hw[1])))  # the storage dtype

    def save(self, image_id: str, dense: DenseFeatures) -> None:
        """Write the entry of ``image_id`` atomically (temp file + ``os.replace``)."""
        self._prepare()
        tensors = {
            "features": dense.features.to(self._dtype).contiguous(),
            "resized_hw": torch.tensor(dense.resized_hw, dtype=torch.int64),
        }
        with atomic_target(self.path(image_id)) as tmp:
            save_file(tensors, str(tmp), metadata={"key": self._key_json, "image_id": image_id})

    def as_stored(self, dense: DenseFeatures) -> DenseFeatures:
        """``dense`` as a later ``load`` returns it (in the storage dtype), so fresh and cached features are
        the same numbers."""
        if self._dtype == torch.float32:
            return dense
        return DenseFeatures(dense.features.to(self._dtype), dense.resized_hw)

    def remove_stale_temps(self) -> list[Path]:
        """Delete temp files of writers that are gone (this host, dead pid) or older than a day; returns them."""
        return remove_stale_temps(self.dir)

    def _prepare(self) -> None:
        """Once per instance: create the folder, describe the key in key.json, clean up killed writers' temps."""
        if self._ready:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        key_file = self.dir / "key.json"
        if not key_file.exists():
            write_text_atomic(key_file, json.dumps(json.loads(self._key_json), indent=2, sort_keys=True) + "\n")
        self.remove_stale_temps()
        self._ready = True


def not_in_memory_or_cache(
    image_ids: Sequence[str], memory: dict[str, Any], cache: Any | None, entry_name: Callable[[str], str] | None = None
) -> list[str]:
    """Fill ``memory`` from ``cache`` (anything with ``load(name) -> value | None``; ``entry_name(id)``
    names an id's entry, default the id) and return the ids, distinct and in order, that neither holds:
    those still to compute."""
    missing = []
    for image_id in dict.fromkeys(image_ids):
        if image_id in memory:
            continue
        cached = cache.load(entry_name(image_id) if entry_name else image_id) if cache is not None else None
        if cached is None:
            missing.append(image_id)
        else:
            memory[image_id] = cached
    return missing
