"""GroupCommit: threads hand in finished work; one of them writes everything waiting in one go.

The embedding worker keeps several provider requests in flight. Writing each answer on its
own (a vector upsert, a graph write, a neighbour search, another graph write) costs a few
milliseconds of fixed overhead per batch, and those writes run one at a time anyway. So each
thread `submit`s its result and waits: whichever thread holds the write lock takes every
result waiting at that moment and writes them together (the leader); the others find their
result written when the lock is theirs (followers). Under load, one write serves many
provider answers; alone, a thread writes its own result at once, with no added wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[list[T]], None]) -> None:
        """`write` stores a group of entries; it must handle its own failures (it is called for other threads)."""
        self._write = write
        self._lock = threading.Lock()  # held by the thread writing
        self._waiting: list[tuple[T, threading.Event]] = []
        self._waiting_lock = threading.Lock()

    def submit(self, entry: T) -> None:
        """Return once `entry` has been written, by this thread or another."""
        written = threading.Event()
        with self._waiting_lock:
            self._waiting.append((entry, written))
        with self._lock:
            if written.is_set():  # a leader wrote it while this thread waited for the lock
                return
            with self._waiting_lock:
                group, self._waiting = self._waiting, []
            try:
                self._write([entry for entry, _ in group])
            finally:
                for _, event in group:
                    event.set()
