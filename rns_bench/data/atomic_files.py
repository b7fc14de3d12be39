"""Atomic file writes and an advisory lock: a reader never sees a half-written file.

Every write goes to a hidden temporary file beside its target and is renamed onto it with
``os.replace`` (atomic on POSIX), so an interrupted run leaves either the old file, the new
one, or no file -- never a truncated one. Outputs that exist are therefore complete, which
is what lets the preparation steps resume by skipping them.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

try:  # POSIX advisory lock; elsewhere the atomic rename alone keeps readers safe
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

TMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    The temporary name starts with a dot and ends in ``.tmp``, so globs such as ``*.png`` never
    pick up a leftover one; it is created by the writer (with the umask's permissions).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_target(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_label_png(path: Path, label: np.ndarray) -> None:
    """Write an (H, W) label map of values 0..255 as a greyscale ('L') PNG, atomically."""
    array = np.asarray(label)
    if array.ndim != 2 or (array.size and (array.min() < 0 or array.max() > 255)):
        raise ValueError(f"a label PNG needs an (H, W) array of 0..255, got shape {array.shape} for {path}")
    with atomic_target(path) as tmp:
        Image.fromarray(array.astype(np.uint8, copy=False)).save(tmp, format="PNG")  # 2-D uint8 → "L"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) for the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)
