"""Features for image ids under one extraction setting: memory, then the disk cache, then the backbone.

Missing images are extracted ``image_batch`` at a time (their windows batched together, see
``extract_dense``) while the next batch is read, decoded, resized and padded ahead of the backbone
(a thread, or DataLoader workers: ``loader_workers``, see ``rns_bench.features.pipeline``), and
each result is queued for the cache as soon as it exists (written on a writer thread, waited for
before extraction returns or fails), so an interrupted extraction resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from rns_bench.backbones.base import Backbone
from rns_bench.core.errors import ConfigError, InputError
from rns_bench.core.timing import per_image, timed
from rns_bench.features.cache import AUTOCAST_DTYPES, FeatureCache, check_autocast, not_in_memory_or_cache
from rns_bench.features.dense import DEFAULT_WINDOW_BATCH, DenseFeatures, device_of, extract_prepared
from rns_bench.features.pipeline import CacheWriter, LoadImage, loader_workers, prepared_batches
from rns_bench.features.settings import ExtractionSettings
from rns_bench.ops.windows import window_grid


@dataclass
class ExtractionReport:
    """What one ``precompute`` did: images found in the cache, images extracted, their windows, seconds."""

    cached: int = 0
    extracted: int = 0
    windows: int = 0
    seconds: float = 0.0


EntryName = Callable[[str], str]  # image id → its cache entry's name (the image's content digest)


class FeatureStore:
    """Dense features of one dataset under one backbone and extraction setting, shared by all runs.

    ``autocast``: the dtype the backbone runs in while extracting ("none", "bfloat16", "float16"),
    applied here whatever context the caller runs in (Lightning's bf16-mixed included), so features
    always match their cache key (the key carries it too)."""

    def __init__(
        self,
        backbone: Backbone,
        cache: FeatureCache | None,
        settings: ExtractionSettings,
        image_batch: int = 8,
        window_batch: int = DEFAULT_WINDOW_BATCH,
        loader_workers: int | str = "auto",
        autocast: str | None = None,
    ):
        if image_batch < 1 or window_batch < 1:
            raise ConfigError(f"image_batch and window_batch must be >= 1, got {image_batch}, {window_batch}")
        self.autocast = autocast if autocast is not None else (cache.key.autocast if cache is not None else "none")
        check_autocast(self.autocast)
        if cache is not None and cache.key.autocast != self.autocast:
            raise ConfigError(
                f"the feature cache is keyed for autocast {cache.key.autocast!r}, the store extracts "
                f"with {self.autocast!r}"
            )
        self.backbone, self.cache, self.settings = backbone, cache, settings
        self.image_batch, self.window_batch, self.loader_workers = image_batch, window_batch, loader_workers
        self._memory: dict[str, DenseFeatures] = {}
        self._finite: set[str] = set()  # ids whose features were checked for NaN / inf
        self.extracted = 0  # images this store ran through the backbone (the rest came from memory or cache)
        self.seconds: dict[str, float] = {}  # {"extraction": s} spent in the backbone for those images

    @property
    def short_side(self) -> int | None:
        """The resize short side of this setting (None = original size)."""
        return self.settings.short_side

    def get(
        self,
        image_ids: Sequence[str],
        load_image: LoadImage,
        desc: str = "features",
        entry_name: EntryName | None = None,
        keep: bool = True,
    ) -> list[DenseFeatures]:
        """Features of ``image_ids``, in order. ``entry_name(id)``: the id's cache entry (its content digest,
        ``reader.image_digest``); default the id itself. ``keep``: kept in memory for later calls; with
        ``keep=False`` and a disk cache, read from the cache each time (memory stays the caller's working set)."""
        name = entry_name or _same
        memory = (
            self._memory if keep or self.cache is None else {i: self._memory[i] for i in image_ids if i in self._memory}
        )
        missing = not_in_memory_or_cache(image_ids, memory, self.cache, name)
        # delay: a bar only for work that lasts, not one flash per tuning trial's few images
        with tqdm(
            total=len(missing), desc=f"extracting {desc}", unit="image", disable=not missing, leave=False, delay=1.0
        ) as progress:
            for image_id, dense in self._extract(missing, load_image, name):
                memory[image_id] = dense
                progress.update()
        for image_id in image_ids:
            if image_id not in self._finite:
                self._require_finite(image_id, memory[image_id], name)
        return [_as_float32(memory[i]) for i in image_ids]  # kept in the cache's dtype, handed out as float32

    def seconds_per_image(self) -> float | None:
        """Backbone seconds per image this store extracted (None when all came from the cache)."""
        return per_image(self.seconds.get("extraction"), self.extracted)

    def _require_finite(self, image_id: str, dense: DenseFeatures, name: EntryName) -> None:
        """NaN / inf features stop here, naming the image and where they came from (cache file or backbone)."""
        if not bool(torch.isfinite(dense.features).all()):
            if self.cache is not None and self.cache.path(name(image_id)).exists():
                source = (
                    f"the cache file {self.cache.path(name(image_id))}; delete it to re-extract (a float16 cache "
                    f"overflows where float32 does not: extraction.cache_dtype)"
                )
            else:
                source = f"the {type(self.backbone).__name__} backbone's output; check its weights and inputs"
            raise InputError(f"features of image {image_id!r} contain NaN or inf values, from {source}")
        self._finite.add(image_id)

    def precompute(
        self,
        image_ids: Sequence[str],
        load_image: LoadImage,
        progress: tqdm | None = None,
        entry_name: EntryName | None = None,
    ) -> ExtractionReport:
        """Extract every id not in the cache into the cache, without keeping features in memory.

        ``progress`` (a tqdm bar) advances by one per image and shows the windows/s so far;
        ``entry_name`` as in :meth:`get`.
        """
        name = entry_name or _same
        if self.cache is None:
            raise ConfigError("precomputing features needs the on-disk cache: set cache_dir (configs/bench.yaml)")
        started, report = time.perf_counter(), ExtractionReport()
        missing = []
        for image_id in dict.fromkeys(image_ids):
            if self.cache.has(name(image_id)):
                report.cached += 1
                if progress is not None:
                    progress.update()
            else:
                missing.append(image_id)
        for _, dense in self._extract(missing, load_image, name):
            report.extracted += 1
            report.windows += self.windows_of(dense.resized_hw)
            if progress is not None:
                progress.update()
                progress.set_postfix(windows_per_s=f"{report.windows / (time.perf_counter() - started):.1f}")
        report.seconds = time.perf_counter() - started
        return report

    def windows_of(self, resized_hw: tuple[int, int]) -> int:
        """Backbone crops per image of resized size ``resized_hw`` (1 for a whole-image forward)."""
        if self.settings.windows is None:
            return 1
        patch = self.backbone.patch_size
        padded = (-(-resized_hw[0] // patch) * patch, -(-resized_hw[1] // patch) * patch)
        return sum(len(window_grid(*padded, w.crop, w.stride)) for w in self.settings.windows)

    def _extract(
        self, image_ids: list[str], load_image: LoadImage, name: EntryName | None = None
    ) -> Iterator[tuple[str, DenseFeatures]]:
        """Extract ``image_ids`` in batches, saving each to the cache; yields (id, features as stored)."""
        device, name = device_of(self.backbone), name or _same
        batches = prepared_batches(
            image_ids,
            load_image,
            self.settings.short_side,
            self.backbone.patch_size,
            self.image_batch,
            loader_workers(self.loader_workers, device),
            pin=device.type == "cuda",
        )
        with CacheWriter(self.cache) as writer:
            for batch in batches:  # prepared while the backbone worked on the previous one
                with timed(self.seconds, "extraction"), self._autocast(device):  # the backbone's work only
                    extracted = extract_prepared(
                        self.backbone,
                        [(item.pixels, item.resized_hw) for item in batch],
                        self.settings,
                        self.window_batch,
                    )
                for item, dense in zip(batch, extracted, strict=True):
                    self.extracted += 1
                    if self.cache is not None:
                        writer.save(name(item.image_id), dense)  # written off the critical path
                        dense = self.cache.as_stored(dense)
                    yield item.image_id, dense

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """The store's autocast, or autocast switched off: a caller's (Lightning's bf16-mixed) never leaks in."""
        dtype = AUTOCAST_DTYPES[self.autocast]
        if dtype is None:
            return torch.autocast(device.type, enabled=False)
        return torch.autocast(device.type, dtype=dtype)


def _same(image_id: str) -> str:
    return image_id


def _as_float32(dense: DenseFeatures) -> DenseFeatures:
    if dense.features.dtype == torch.float32:
        return dense
    return DenseFeatures(dense.features.float(), dense.resized_hw)
