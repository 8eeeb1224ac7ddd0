"""AccessRecorder: notes which memories were read and writes `last_accessed` in the background.

Reads (GET /memory, recall) only add ids to a set; a daemon thread writes them to the graph
in one query every few seconds, so no read request waits on a graph write.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from loci.diskspace import DiskGuard
from loci.errors import LociError
from loci.stores.graph import MemoryQueries
from loci.timeutil import iso, utcnow

log = logging.getLogger(__name__)

FLUSH_INTERVAL_SECONDS = 5.0


class AccessRecorder:
    def __init__(
        self, memories: MemoryQueries, interval: float = FLUSH_INTERVAL_SECONDS, disk: DiskGuard | None = None
    ) -> None:
        self.memories = memories
        self.interval = interval
        self.disk = disk  # below the free-space reserve, ids wait here until space is freed
        self._ids: set[str] = set()
        self._failing = False  # the last flush failed (logged once per run of failures)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, ids: Iterable[str]) -> None:
        with self._lock:
            self._ids.update(ids)

    def flush(self) -> int:
        """Write the collected ids now; returns how many."""
        if self.disk is not None and not self.disk.writable():
            return 0
        with self._lock:
            ids, self._ids = self._ids, set()
        if not ids:
            return 0
        try:
            self.memories.touch(sorted(ids), iso(utcnow()))
        except LociError as exc:
            if not self._failing:  # once until a flush succeeds again, not every interval
                log.warning(
                    "could not record access times", extra={"event": "access.flush_failed", "error": exc.message}
                )
            self._failing = True
            with self._lock:
                self._ids.update(ids)  # try again next time
            return 0
        if self._failing:
            log.info("access times recorded again", extra={"event": "access.flush_recovered", "count": len(ids)})
            self._failing = False
        return len(ids)

    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="loci-access", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
        self.flush()
