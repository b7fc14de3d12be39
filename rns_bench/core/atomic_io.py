"""Atomic file writes and an advisory lock: a reader never sees a half-written file.

Every write goes to a hidden temporary file beside its target and is renamed onto it with
``os.replace`` (atomic on POSIX), so an interrupted run leaves either the old file, the new
one, or no file -- never a truncated one. Outputs that exist are therefore complete, which
is what lets the preparation steps resume by skipping them. The rename also replaces a symlink
planted at the target instead of writing through it (a shared, group-writable results folder).
A full disk is one line naming the file and the fix (:class:`~rns_bench.core.errors.InputError`),
and what was there before stays.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from rns_bench.core.errors import InputError

try:  # POSIX advisory lock; elsewhere the atomic rename alone keeps readers safe
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

TMP_SUFFIX = ".tmp"
STALE_TMP_AFTER_S = 24 * 3600  # a temp file this old is a dead writer's, whatever its host


def normal_mode() -> int:
    """The mode a plain ``open()`` creates files with under the process umask (0644 usually)."""
    umask = os.umask(0o022)  # there is no getter: read it by setting it, then put it back
    os.umask(umask)
    return 0o666 & ~umask


def temp_path(path: Path) -> Path:
    """A fresh hidden temp name beside ``path``: ``.<name>.<host>.<pid>.<token>.tmp``, so globs such as
    ``*.png`` never pick it up and :func:`remove_stale_temps` can tell a dead writer's leftover."""
    path = Path(path)
    return path.with_name(f".{path.name}.{_host()}.{os.getpid()}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")


@contextlib.contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    The temporary file (:func:`temp_path`) is created by the writer, so it gets the umask's
    permissions (0644 usually: a shared results or cache folder stays readable by the team).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        os.chmod(tmp, normal_mode())  # some writers (safetensors) create 0600 files
        os.replace(tmp, path)
    except Exception as error:
        if disk_full(error):
            raise disk_full_error(path) from None
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def disk_full_error(path: Path) -> InputError:
    return InputError(
        f"no space left on the disk of {path} while writing it: free space there, or point the "
        "option that names this folder (results_dir, cache_dir, ...) at another disk; what was "
        "written before is intact and the same command resumes"
    )


def disk_full(error: BaseException) -> bool:
    """Whether ``error`` says the disk is full (OSError ENOSPC, or a library's message of it: safetensors)."""
    return (
        (isinstance(error, OSError) and error.errno == errno.ENOSPC)
        or "os error 28" in str(error)
        or "No space left on device" in str(error)
    )


def can_write_in(folder: Path) -> bool:
    """Whether this process may create files in the existing ``folder``: a real write (permissions, read-only
    mounts and pseudo file systems all say no here), its probe file removed."""
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".rns-bench-write-probe-")
    except OSError:
        return False
    os.close(handle)
    os.unlink(probe)
    return True


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_target(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: Path, payload: object, *, exclusive: bool = False) -> bool:
    """Write ``payload`` as indented, key-sorted JSON (NaN refused) to ``path`` atomically.

    ``exclusive``: never replace an existing file (finished run records): returns False and
    writes nothing when ``path`` exists. Otherwise the new file replaces the old one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "w") as out:
            json.dump(payload, out, indent=2, sort_keys=True, allow_nan=False)
            out.write("\n")
        if not exclusive:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # fails if the file exists (atomic, also on NFS)
        except FileExistsError:
            return False
        return True
    except Exception as error:
        if disk_full(error):
            raise disk_full_error(path) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete the temp files (and temp folders: a pack import's staging) in ``folder`` whose writers are
    gone (this host, dead pid) or that are older than a day; returns them."""
    removed = []
    for tmp in Path(folder).glob(f".*{TMP_SUFFIX}"):
        if _is_stale(tmp):
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def label_png_array(label: np.ndarray, path: Path) -> np.ndarray:
    """``label`` as the (H, W) uint8 array a label PNG stores; ValueError naming ``path`` otherwise."""
    array = np.asarray(label)
    if array.ndim != 2 or (array.size and (array.min() < 0 or array.max() > 255)):
        raise ValueError(f"a label PNG needs an (H, W) array of 0..255, got shape {array.shape} for {path}")
    return array.astype(np.uint8, copy=False)


def save_label_png(path: Path, label: np.ndarray) -> None:
    """Write an (H, W) label map of values 0..255 as a greyscale ('L') PNG, atomically."""
    with atomic_target(path) as tmp:
        Image.fromarray(label_png_array(label, path)).save(tmp, format="PNG")  # 2-D uint8 → "L"


def save_rgb_png(path: Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 image as an RGB PNG, atomically."""
    with atomic_target(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


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


def _host() -> str:
    return socket.gethostname().replace(".", "-") or "host"


def _is_stale(tmp: Path) -> bool:
    """A temp file ``.<entry>.<host>.<pid>.<token>.tmp`` whose writer is dead (same host), or an old one."""
    try:
        if time.time() - tmp.stat().st_mtime > STALE_TMP_AFTER_S:
            return True
    except FileNotFoundError:
        return False  # its writer just renamed or removed it
    parts = tmp.name.rsplit(".", 4)
    if len(parts) != 5 or parts[1] != _host() or not parts[2].isdigit():
        return False  # another host's writer (shared file system): only age can tell
    return not _pid_alive(int(parts[2]))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True
