"""Content digests of data files, computed once per file version.

Caches, the presence index and run records are keyed by what the data *is*, not where it lives
or what it is called: the sha256 of a file's bytes. Hashing a dataset is a full read, so a
digest is remembered by (resolved path, size, mtime_ns): a file that is rewritten, replaced or
touched is hashed again; one left alone is a ``stat`` and a lookup. With ``db_path`` the digests
outlive the process in a small SQLite table (concurrent processes share it; SQLite does the
locking), so a dataset is read in full once per machine, not once per job.

A file changed in place with its size *and* mtime kept (``touch -r``, some copy tools) keeps its
old digest: touch it, or delete the table, to have it read again.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
import warnings
from pathlib import Path

CHUNK = 1 << 20
FLUSH_SECONDS = 5.0
_SCHEMA = "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT)"


def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of the file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class FileDigests:
    """sha256 of files by content, remembered by (path, size, mtime_ns); in memory, and in SQLite at
    ``db_path`` when given. ``hashed`` counts the files this object actually read."""

    def __init__(self, db_path: Path | None = None, flush_every: int = 512):
        self.db_path = Path(db_path) if db_path is not None else None
        self.flush_every = flush_every
        self.hashed = 0
        self._memory: dict[str, tuple[int, int, str]] = {}
        self._pending: list[tuple[str, int, int, str]] = []
        self._connection: sqlite3.Connection | None = None
        self._pid = -1
        self._flushed = time.monotonic()

    def of(self, path: Path) -> str:
        """The sha256 of ``path``'s bytes (OSError when it cannot be read)."""
        resolved = os.path.realpath(path)
        stat = os.stat(resolved)
        known = self._memory.get(resolved) or self._stored(resolved)
        if known is not None and known[:2] == (stat.st_size, stat.st_mtime_ns):
            return known[2]
        sha = sha256_file(Path(resolved))
        self.hashed += 1
        self._memory[resolved] = (stat.st_size, stat.st_mtime_ns, sha)
        if self.db_path is not None:
            self._pending.append((resolved, stat.st_size, stat.st_mtime_ns, sha))
            # written in batches (one transaction each), at least every few seconds: a killed job loses little
            if len(self._pending) >= self.flush_every or time.monotonic() - self._flushed > FLUSH_SECONDS:
                self.flush()
        return sha

    def flush(self) -> None:
        """Write the digests computed since the last flush to the table (a no-op in memory)."""
        if not self._pending or self.db_path is None:
            return
        try:
            connection = self._connect()
            with connection:
                connection.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?)", self._pending)
        except (sqlite3.Error, OSError) as error:  # a full or read-only disk: the digests are only a cache
            warnings.warn(
                f"cannot store file digests in {self.db_path} ({error}); they are kept in memory for this process only",
                stacklevel=2,
            )
            self.db_path = None
        self._pending = []
        self._flushed = time.monotonic()

    def _stored(self, resolved: str) -> tuple[int, int, str] | None:
        if self.db_path is None or not self.db_path.exists():
            return None
        try:
            row = (
                self._connect()
                .execute("SELECT size, mtime_ns, sha256 FROM digests WHERE path = ?", (resolved,))
                .fetchone()
            )
        except sqlite3.DatabaseError:
            return None  # an unreadable table only costs a re-hash
        return tuple(row) if row is not None else None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():  # a forked worker opens its own
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(self.db_path, timeout=60)
            self._connection.execute(_SCHEMA)
            self._pid = os.getpid()
        return self._connection
