"""The input and output sides of extraction, kept off the backbone's critical path.

Input: images are read, decoded, resized and padded (``padded_pixels``) a batch ahead, either on one
background thread (``loader_workers=0``: on a CPU backbone, where extra processes would only take
cores from the backbone's own threads) or in DataLoader worker processes (``loader_workers=N``),
pinned when the backbone is on CUDA so the copy to the device is asynchronous. ``auto`` picks 0 on
CPU and a few workers on GPU.

Output: cache writes (safetensors, atomic) go to one writer thread; leaving the ``CacheWriter`` block,
normally or not, waits for every queued write, so an interrupted extraction keeps what it finished.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from rns_bench.core.errors import ConfigError, InputError
from rns_bench.features.cache import FeatureCache
from rns_bench.features.dense import DenseFeatures, padded_pixels

LoadImage = Callable[[str], np.ndarray]  # image id → (H, W, 3) uint8 RGB
MAX_AUTO_WORKERS = 4


@dataclass
class PreparedImage:
    """One image as the backbone takes it: (3, H_p, W_p) float pixels and the unpadded resized size."""

    image_id: str
    pixels: torch.Tensor
    resized_hw: tuple[int, int]


def loader_workers(option: int | str, device: torch.device, key: str = "extraction.loader_workers") -> int:
    """Worker processes for the option ``key`` (an int >= 0, or ``auto``) on ``device``."""
    if option == "auto":
        return 0 if device.type == "cpu" else max(1, min(MAX_AUTO_WORKERS, (os.cpu_count() or 2) - 1))
    if isinstance(option, bool) or not isinstance(option, int) or option < 0:
        raise ConfigError(f"{key}={option!r}: use an integer >= 0 or 'auto'")
    return option


def prepared_batches(
    image_ids: Sequence[str],
    load_image: LoadImage,
    short_side: int | None,
    patch_size: int,
    batch_size: int,
    workers: int,
    pin: bool,
) -> Iterator[list[PreparedImage]]:
    """``image_ids`` as prepared images, ``batch_size`` per batch in order, read ahead of the consumer."""
    images = _PreparedImages(list(image_ids), load_image, short_side, patch_size)
    if workers == 0:
        yield from _thread_read_ahead(images, batch_size, pin)
        return
    loader = DataLoader(
        images,
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=list,
        pin_memory=pin,
        worker_init_fn=_one_thread_per_worker,
    )
    for batch in loader:
        yield [_raise_failure(item) for item in batch]


class _PreparedImages(Dataset):
    def __init__(self, image_ids: list[str], load_image: LoadImage, short_side: int | None, patch_size: int):
        self.image_ids, self.load_image = image_ids, load_image
        self.short_side, self.patch_size = short_side, patch_size

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int) -> PreparedImage | InputError:
        image_id = self.image_ids[index]
        try:
            pixels, size = padded_pixels(self.load_image(image_id), self.short_side, self.patch_size)
        except InputError as error:  # returned, not raised: a worker's traceback would bury the one-line message
            return error
        return PreparedImage(image_id, pixels, size)


def _raise_failure(item: PreparedImage | InputError) -> PreparedImage:
    if isinstance(item, InputError):
        raise InputError(str(item))
    return item


def _thread_read_ahead(images: _PreparedImages, batch_size: int, pin: bool) -> Iterator[list[PreparedImage]]:
    def prepare(start: int) -> list[PreparedImage]:
        batch = [_raise_failure(images[i]) for i in range(start, min(start + batch_size, len(images)))]
        if pin:
            for item in batch:
                item.pixels = item.pixels.pin_memory()
        return batch

    starts = range(0, len(images), batch_size)
    if not starts:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-images") as reader:
        pending = reader.submit(prepare, starts[0])
        for start in starts[1:]:
            batch = pending.result()
            pending = reader.submit(prepare, start)  # the next batch is prepared while this one is consumed
            yield batch
        yield pending.result()


def _one_thread_per_worker(_: int) -> None:
    # Several workers with torch's thread pool each would oversubscribe the cores. (OpenCV's is left
    # alone: cv2.setNumThreads in a forked worker deadlocks on the pool it inherited.)
    torch.set_num_threads(1)


class CacheWriter:
    """Writes cache entries on one background thread; at most ``backlog`` queued (bounded memory)."""

    def __init__(self, cache: FeatureCache | None, backlog: int = 16):
        self.cache, self.backlog = cache, backlog
        self._pending: deque[Future] = deque()
        self._thread: ThreadPoolExecutor | None = None

    def __enter__(self) -> CacheWriter:
        if self.cache is not None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-cache")
        return self

    def save(self, image_id: str, dense: DenseFeatures) -> None:
        if self._thread is None:
            return
        self._pending.append(self._thread.submit(self.cache.save, image_id, dense))
        while len(self._pending) > self.backlog:
            self._pending.popleft().result()

    def __exit__(self, *exc_info: object) -> None:
        if self._thread is None:
            return
        try:
            while self._pending:
                self._pending.popleft().result()  # a failed write raises here
        finally:
            self._thread.shutdown(wait=True)
