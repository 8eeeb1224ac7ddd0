"""WorkQueue: memory ids waiting for a pipeline stage.

It keeps two sets under one lock: `pending` (queued, ready now or at a later time) and
`inflight` (taken by a worker, not yet done). An id is never queued twice, and never
handed out while it is in flight: an edit that re-queues a memory being worked on waits
its turn. A retry re-enters the queue with a not-before time, so backoff is a queue
entry, never a sleep in the worker.

Ownership: the thread that took an id owns it until it calls `done`, and only `done`
takes an id out of flight. A `retry` (by the owner, or by a thread that wrote the owner's
result for it) queues the id again but leaves it in flight, so no other thread can take
it while its owner may still be writing it: one id is never worked on twice at once, and
an older snapshot's write can never land after a newer one's.

A retry can ask for isolation: the id is then handed out alone, never in a batch, so
one memory that breaks a batch cannot use up the attempts of the others.

The queue lives in memory; the durable truth is the state on each memory's graph node,
from which the queue is rebuilt at start-up.

`Queue` is the interface the workers use. `WorkQueue` implements it in this process;
`StreamQueue` (loci/pipeline/streams.py) implements it in Redis Streams on FalkorDB's own
server, shared by a fleet of processes, with the same semantics across all of them.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class WorkItem:
    memory_id: str
    attempts: int = 0
    """Failed attempts so far."""


@dataclass(frozen=True)
class QueueStats:
    depth: int
    """Queued and ready now."""
    delayed: int
    """Queued, waiting for a retry time."""
    pending: int
    inflight: int


class Queue(Protocol):
    """What the pipeline needs of a work queue (WorkQueue here, StreamQueue across a fleet)."""

    name: str

    def put(self, memory_id: str, *, attempts: int = 0, delay: float = 0.0) -> bool: ...

    def put_many(self, ids: Iterable[str], *, attempts: int = 0, delay: float = 0.0) -> int: ...

    def put_items(self, items: Iterable[WorkItem], *, delay: float = 0.0) -> int: ...

    def take(self, max_items: int, *, wait: float = 0.0, linger: float = 0.0) -> list[WorkItem]: ...

    def done(self, ids: Iterable[str]) -> None: ...

    def retry(self, item: WorkItem, delay: float, *, isolate: bool = False) -> None: ...

    def adopt(self, ids: Iterable[str]) -> int: ...

    def adopt_items(self, items: Iterable[WorkItem]) -> int: ...

    def stats(self) -> QueueStats: ...

    def is_idle(self, *, include_delayed: bool = False) -> bool: ...

    def close(self) -> None: ...


class WorkQueue:
    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self._cond = threading.Condition()
        self._ready: deque[str] = deque()
        self._delayed: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._pending: dict[str, int] = {}
        self._inflight: set[str] = set()
        self._isolated: set[str] = set()

    # --- producers
    def put(self, memory_id: str, *, attempts: int = 0, delay: float = 0.0) -> bool:
        """Queue an id; False if it is already queued."""
        return self.put_many([memory_id], attempts=attempts, delay=delay) == 1

    def put_many(self, ids: Iterable[str], *, attempts: int = 0, delay: float = 0.0) -> int:
        """Queue several ids at once; returns how many were new."""
        return self.put_items((WorkItem(memory_id, attempts) for memory_id in ids), delay=delay)

    def put_items(self, items: Iterable[WorkItem], *, delay: float = 0.0) -> int:
        """Queue items keeping their attempt counts (start-up recovery); returns how many were new."""
        added = 0
        with self._cond:
            ready_at = self._clock() + delay
            for item in items:
                memory_id = item.memory_id
                if memory_id in self._pending:
                    continue
                self._pending[memory_id] = item.attempts
                if delay > 0:
                    heapq.heappush(self._delayed, (ready_at, next(self._seq), memory_id))
                else:
                    self._ready.append(memory_id)
                added += 1
            if added:
                self._cond.notify_all()
        return added

    # --- consumers
    def take(self, max_items: int, *, wait: float = 0.0, linger: float = 0.0) -> list[WorkItem]:
        """Take up to `max_items` ready ids, marking them in flight.

        Blocks up to `wait` seconds for a first id. A lone id is returned at once. When
        several arrived together (a stream is coming in), it keeps gathering while new ids
        keep arriving, for at most `linger` seconds and only while the batch is not full.
        """
        with self._cond:
            deadline = self._clock() + wait
            batch = self._pop_ready(max_items)
            while not batch:
                timeout = deadline - self._clock()
                if self._delayed:
                    timeout = min(timeout, self._delayed[0][0] - self._clock())
                if timeout <= 0 and self._clock() >= deadline:
                    return []
                self._cond.wait(timeout=max(timeout, 0.0))
                batch = self._pop_ready(max_items)
            if len(batch) > 1 and linger > 0:
                self._linger(batch, max_items, linger)
            return batch

    def _linger(self, batch: list[WorkItem], max_items: int, linger: float) -> None:
        gap = max(linger / 5, 0.001)
        stop_at = self._clock() + linger
        while len(batch) < max_items:
            remaining = stop_at - self._clock()
            if remaining <= 0:
                return
            self._cond.wait(timeout=min(gap, remaining))
            more = self._pop_ready(max_items - len(batch), joining=len(batch))
            if not more:
                return  # nothing arrived within the gap: the burst is over
            batch.extend(more)

    def _pop_ready(self, limit: int, joining: int = 0) -> list[WorkItem]:
        """Pop up to `limit` ready ids not in flight; `joining`: ids already in the batch they join."""
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, memory_id = heapq.heappop(self._delayed)
            self._ready.append(memory_id)
        taken: list[WorkItem] = []
        skipped: list[str] = []
        while self._ready and len(taken) < limit:
            memory_id = self._ready.popleft()
            if memory_id in self._inflight:
                skipped.append(memory_id)  # being worked on: its turn comes after
                continue
            if memory_id in self._isolated and (taken or joining):
                skipped.append(memory_id)  # goes alone, in a later batch
                break
            taken.append(WorkItem(memory_id, self._pending.pop(memory_id, 0)))
            self._inflight.add(memory_id)  # at once: a put() while the batch lingers must not add it twice
            if memory_id in self._isolated:
                self._isolated.discard(memory_id)
                break
        self._ready.extendleft(reversed(skipped))
        return taken

    def done(self, ids: Iterable[str]) -> None:
        """The worker has finished with these ids (whatever the outcome)."""
        with self._cond:
            for memory_id in ids:
                self._inflight.discard(memory_id)
            self._cond.notify_all()

    def retry(self, item: WorkItem, delay: float, *, isolate: bool = False) -> None:
        """Queue an in-flight id again, to be taken no sooner than `delay` seconds from now (alone,
        if `isolate`). It stays in flight until its owner's `done`."""
        with self._cond:
            if isolate:
                self._isolated.add(item.memory_id)
            if item.memory_id not in self._pending:
                self._pending[item.memory_id] = item.attempts
                heapq.heappush(self._delayed, (self._clock() + delay, next(self._seq), item.memory_id))
            self._cond.notify_all()

    def adopt(self, ids: Iterable[str]) -> int:
        """Queue ids that are neither queued nor in flight (work found unqueued); returns how many."""
        return self.adopt_items(WorkItem(memory_id) for memory_id in ids)

    def adopt_items(self, items: Iterable[WorkItem]) -> int:
        """`adopt`, keeping each item's attempts (start-up recovery from the nodes' state)."""
        with self._cond:  # re-entrant: put_items takes it again
            return self.put_items([item for item in items if item.memory_id not in self._inflight])

    def close(self) -> None:
        """Nothing to release: the queue lives in this process's memory."""

    # --- observation
    def stats(self) -> QueueStats:
        with self._cond:
            return QueueStats(len(self._ready), len(self._delayed), len(self._pending), len(self._inflight))

    def is_idle(self, *, include_delayed: bool = False) -> bool:
        """Nothing ready and nothing in flight (and, if asked, nothing waiting to retry)."""
        with self._cond:
            busy = bool(self._ready) or bool(self._inflight)
            return not busy and (not include_delayed or not self._delayed)
