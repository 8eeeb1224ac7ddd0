"""Stats: the counters a background component shows on /health and its status route.

A dataclass of counters and last-event fields behind one lock, so a reader never sees a
half-updated set. Prometheus counts the same events for scraping (loci/metrics.py); these
add what a person reading /health wants next to them: the last error and when it was.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stats:
    """Counters and the last error; subclasses add their own fields."""

    last_error: str | None = None
    last_error_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        """Add to counters by name, together."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def error(self, message: str, **counts: int) -> None:
        """Record an error (and add to counters with it)."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)
            self.last_error, self.last_error_at = message, time.time()

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {name: value for name, value in vars(self).items() if not name.startswith("_")}
