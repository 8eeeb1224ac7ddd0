"""GroupCommit: threads hand in finished work; one of them writes everything waiting in one go.

The embedding worker keeps several provider requests in flight. Writing each answer on its
own (a vector upsert, a graph write, a neighbour search, another graph write) costs a few
milliseconds of fixed overhead per batch, and those writes run one at a time anyway. So each
thread `submit`s its result: if no write is under way it becomes the leader and writes every
result waiting at that moment; otherwise it waits until a leader has written its result
(or, if the write it was part of failed, raises that write's error). Under load one write
serves many provider answers; alone, a thread writes its own result at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Slot(Generic[T]):
    entry: T
    written: bool = False
    error: BaseException | None = None


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[list[T]], None]) -> None:
        """`write` stores a group of entries (it runs in whichever submitting thread leads)."""
        self._write = write
        self._state = threading.Condition()
        self._waiting: list[_Slot[T]] = []
        self._writing = False

    def submit(self, entry: T) -> None:
        """Return once `entry` has been written, by this thread or another; raise if its write failed."""
        slot = _Slot(entry)
        with self._state:
            self._waiting.append(slot)
            while not slot.written and self._writing:
                self._state.wait()
            if slot.written:  # a leader wrote it while this thread waited
                if slot.error is not None:
                    raise slot.error
                return
            self._writing = True  # lead: take everything waiting, this thread's entry included
            group, self._waiting = self._waiting, []
        error: BaseException | None = None
        try:
            self._write([s.entry for s in group])
        except BaseException as exc:
            error = exc
            raise
        finally:
            with self._state:
                for s in group:
                    s.written, s.error = True, error
                self._writing = False
                self._state.notify_all()

    @property
    def waiting(self) -> int:
        """Entries handed in and not yet taken by a leader."""
        with self._state:
            return len(self._waiting)
