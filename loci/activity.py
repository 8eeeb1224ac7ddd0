"""RequestActivity: API requests in flight, so background work gives way to them.

The workers share the process (and the interpreter lock) with the request threads. Before
each batch a worker waits until no request has been in flight for a moment, but never
longer than LOCI_WORKER_YIELD_SECONDS, so a burst of stores is acknowledged at full speed
and the pipeline catches up right after it (or, under traffic that never pauses, still
moves a batch every yield period).
"""

from __future__ import annotations

import threading
import time

QUIET_SECONDS = 0.02
"""How long no request must have been running before background work goes on."""


class RequestActivity:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._active = 0
        self._last_end = 0.0

    def begin(self) -> None:
        with self._changed:
            self._active += 1

    def end(self) -> None:
        with self._changed:
            self._active -= 1
            self._last_end = time.monotonic()
            self._changed.notify_all()

    @property
    def active(self) -> int:
        return self._active

    def wait_for_quiet(self, longest: float) -> float:
        """Wait while requests run (or ran in the last QUIET_SECONDS), at most `longest`; the time waited."""
        started = time.monotonic()
        deadline = started + longest
        with self._changed:
            while (now := time.monotonic()) < deadline:
                if self._active == 0:
                    calm_at = self._last_end + QUIET_SECONDS
                    if now >= calm_at:
                        break
                    self._changed.wait(min(calm_at, deadline) - now)
                else:
                    self._changed.wait(deadline - now)
        return time.monotonic() - started
