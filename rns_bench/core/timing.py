"""Wall-clock timing that waits for the GPU: a CUDA kernel returns before it has run, so a timer
that does not synchronise measures the launch, not the work."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


@contextmanager
def timed(totals: dict[str, float], name: str) -> Iterator[None]:
    """Add the block's seconds (GPU work included) to ``totals[name]``."""
    synchronize()
    started = time.perf_counter()
    try:
        yield
    finally:
        synchronize()
        totals[name] = totals.get(name, 0.0) + time.perf_counter() - started


def per_image(seconds: float | None, images: int) -> float | None:
    """Seconds per image, rounded for a record; None when nothing was measured."""
    return round(seconds / images, 6) if seconds is not None and images else None
