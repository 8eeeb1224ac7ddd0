"""DiskGuard: keep a free-space reserve on the filesystems Loci writes to, and refuse writes below it.

A full disk is worse for Loci than an outage. FalkorDB stops taking writes (`MISCONF`) once its
append-only file cannot grow, and may have acknowledged a command it could not write; embedded
Qdrant writes through memory-mapped files, so a page it touches on a full disk kills the whole
process with SIGBUS. So Loci stops writing *before* the disk is full: while the free space on
any filesystem holding data it writes itself (the embedded FalkorDB directory and the embedded
Qdrant directory under LOCI_DATA_DIR; nothing for external servers) is below
LOCI_MIN_FREE_BYTES, API writes get 507 (loci/api/storage.py), and the background writers (the
pipeline workers, the access recorder, scheduled jobs, vector index builds) pause without using
attempts. Reads keep working. Once space is freed, writes resume within a check, no restart.

Why 256 MiB by default: the reserve must hold whatever lands after a check has passed.
At the worst that is one maximal request body (LOCI_MAX_REQUEST_BYTES, 16 MiB) on each of
gunicorn's 16 request threads, written to the append-only file, plus the vectors and payloads
the embedding worker writes for them and Qdrant's memory-mapped chunks (32 MiB each) filling
in: 16 x 16 MiB = 256 MiB. A small deployment can lower it; 0 turns the guard off, leaving only
the second line of defence (a write the disk refuses is a 507 too, see `disk_refusal`), which
cannot save embedded Qdrant from SIGBUS.

`os.statvfs` costs under a microsecond here (0.6 us on ext4 and tmpfs; a whole check of two
directories about 7 us), so every check is a fresh one: no cache that could let a write through on
stale numbers.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from loci.errors import InsufficientStorage

log = logging.getLogger(__name__)

DISK_FULL_MARKERS = ("MISCONF", "No space left on device", "Disk quota exceeded", "os error 28")
"""Words in a store's error that mean its disk (or, for `OOM`, its memory limit) refused a write."""


@dataclass(frozen=True)
class DiskState:
    """The emptiest of the watched filesystems at one moment."""

    path: Path | None
    free_bytes: int | None
    min_free_bytes: int

    @property
    def low(self) -> bool:
        return self.free_bytes is not None and self.free_bytes < self.min_free_bytes

    def report(self) -> dict[str, Any]:
        """The `disk` block of /health (no path: /health answers without a token; the log names it)."""
        return {
            "free_bytes": self.free_bytes,
            "min_free_bytes": self.min_free_bytes,
            "writes": "refused" if self.low else "accepted",
        }


class DiskGuard:
    """Free space on the filesystems holding `paths`, against a reserve of `min_free_bytes`.

    Thread-safe; logs one line when the state changes (ok -> low, low -> ok), never per check.
    With no paths (both stores external) or a reserve of 0 it never refuses.
    """

    def __init__(self, paths: Iterable[Path], min_free_bytes: int) -> None:
        self.paths = tuple(Path(p) for p in paths)
        self.min_free_bytes = min_free_bytes
        self._low = False
        self._lock = threading.Lock()

    def state(self) -> DiskState:
        """Measure now; the filesystem with the least free space decides."""
        if not self.paths or self.min_free_bytes <= 0:
            return DiskState(None, None, self.min_free_bytes)
        path, free = min(((p, free_bytes(p)) for p in self.paths), key=lambda pair: pair[1])
        state = DiskState(path, free, self.min_free_bytes)
        self._note(state)
        return state

    def writable(self) -> bool:
        return not self.state().low

    def require_room(self) -> None:
        """Raise InsufficientStorage while the free space is below the reserve."""
        state = self.state()
        if state.low:
            raise InsufficientStorage(
                f"Insufficient storage: {state.free_bytes} bytes free where Loci keeps its data, below the "
                f"reserve of {state.min_free_bytes} bytes (LOCI_MIN_FREE_BYTES). Writes are refused until "
                "space is freed; reads still work."
            )

    def has_room_for(self, needed_bytes: int) -> bool:
        """True if `needed_bytes` more can be written and still leave the reserve (a big job's check)."""
        state = self.state()
        return state.free_bytes is None or state.free_bytes - needed_bytes >= state.min_free_bytes

    def _note(self, state: DiskState) -> None:
        with self._lock:
            if state.low == self._low:
                return
            self._low = state.low
        extra = {
            "path": str(state.path),
            "free_bytes": state.free_bytes,
            "min_free_bytes": state.min_free_bytes,
        }
        if state.low:
            log.warning(
                "free disk space below the reserve: writes refused, background writers paused",
                extra={"event": "disk.low", **extra},
            )
        else:
            log.info("free disk space above the reserve again: writes resume", extra={"event": "disk.ok", **extra})


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged process may still write on the filesystem holding `path`
    (or its nearest existing parent, for a directory not made yet)."""
    probe = path
    while True:
        try:
            stats = os.statvfs(probe)
        except FileNotFoundError:
            if probe == probe.parent:
                raise
            probe = probe.absolute().parent
            continue
        return stats.f_bavail * stats.f_frsize


def disk_usage(path: Path) -> int:
    """Bytes the files under `path` take on disk (allocated blocks, not apparent sizes)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:  # removed while walking
                continue
    return total


def disk_refusal(exc: Exception, store: str) -> InsufficientStorage | None:
    """The InsufficientStorage a store's error stands for, if it says the disk refused a write."""
    message = str(exc)
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return InsufficientStorage(f"{store} refused the write: it reached its memory limit (OOM{message})")
    if any(marker in message for marker in DISK_FULL_MARKERS):
        return InsufficientStorage(f"{store} refused the write: its disk is full ({message})")
    return None
