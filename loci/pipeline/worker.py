"""StageWorker: the loop, retries and bookkeeping shared by the embedding and enrichment workers.

A worker is one daemon thread draining a `Queue` (in this process, or a shared stream) in batches. `run()` is the loop:
honour the stop flag, take a batch (waiting at most a moment), `process` it, or do idle
housekeeping. Subclasses implement `process`; each step of it runs through `attempt`, so a
failure (a store outage, a provider error, or a bug) reschedules the batch's memories with
exponential backoff and jitter instead of losing them. Attempts, the last error and the
final `failed` status are written on each memory's node, under `<stage>_attempts` etc.
A store outage, or a disk that filled up, does not use up attempts; below the free-space
reserve (loci/diskspace.py) the loop pauses altogether. Backoff is a queue entry with a
not-before time, never a sleep in the worker. Between batches the loop gives way to running API requests
(at most `yield_seconds`; see loci/activity.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from loci.activity import RequestActivity
from loci.diskspace import DiskGuard
from loci.errors import EmbeddingError, InsufficientStorage, LociError, StoreUnavailable
from loci.events import EventBus
from loci.lease import Lease
from loci.model import Stage, StageStatus
from loci.pipeline.queue import Queue, WorkItem
from loci.stats import Stats
from loci.stores.graph import GraphStore, pages

log = logging.getLogger(__name__)

FAILED = object()
"""What `attempt` returns when a step failed (its items are already rescheduled)."""

IDLE_WAIT_SECONDS = 0.5
"""How long one pass waits for work before checking the stop flag again."""
OUTAGE_RETRY_MAX_SECONDS = 30.0
"""Longest wait before a batch retries a store that was down (the FalkorDB supervisor's longest backoff)."""
DISK_PAUSE_SECONDS = 1.0
"""How often a worker paused for disk space (below LOCI_MIN_FREE_BYTES) looks again."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Exponential backoff with jitter, at least the server's Retry-After."""
        delay = min(self.max_seconds, self.base_seconds * (2 ** max(attempts - 1, 0)))
        return max(delay * random.uniform(0.5, 1.0), retry_after or 0.0)


@dataclass
class WorkerStats(Stats):
    processed: int = 0
    failed: int = 0
    retries: int = 0
    batches: int = 0
    last_batch_size: int = 0
    last_success_id: str | None = None
    last_success_at: float | None = None

    def succeeded(self, ids: Sequence[str]) -> None:
        with self._lock:
            self.processed += len(ids)
            if ids:
                self.last_success_id, self.last_success_at = ids[-1], time.time()


class StageWorker(ABC):
    """Base class: one thread, one queue, one pipeline stage."""

    stage: Stage

    def __init__(
        self,
        graph: GraphStore,
        queue: Queue,
        *,
        batch_size: int,
        retry: RetryPolicy,
        linger: float = 0.0,
        nice: int = 0,
        concurrency: int = 1,
        events: EventBus | None = None,
        activity: RequestActivity | None = None,
        yield_seconds: float = 0.0,
        disk: DiskGuard | None = None,
        turn: Lease | None = None,
    ) -> None:
        self.graph, self.queue = graph, queue
        self.batch_size, self.retry, self.linger, self.nice = batch_size, retry, linger, nice
        self.concurrency = concurrency
        self.events = events or EventBus()
        self.activity, self.yield_seconds = activity, yield_seconds
        self.stats = WorkerStats()
        self._outages = 0  # consecutive batches that found a store unreachable (any thread)
        self.disk = disk
        """Below its free-space reserve the loop pauses, the queue keeping the work."""
        self.turn = turn
        """With a fleet sharing the queue: a process takes a batch only while holding this lease, and gives it up
        after the batch, so a stage whose steps read what earlier batches wrote (enrichment's links in time) runs
        one batch at a time per namespace, and the fleet's processes take turns at each namespace."""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- what subclasses provide
    @abstractmethod
    def process(self, items: Sequence[WorkItem]) -> None:
        """Do this stage's work for one batch, each step through `attempt`."""

    def idle(self) -> None:  # noqa: B027 - a hook; doing nothing is the default
        """Housekeeping when there is nothing to do."""

    # --- lifecycle
    def start(self) -> None:
        """Start `concurrency` threads on the one queue (its in-flight set keeps them apart)."""
        if self.running:
            return
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self.run, name=f"loci-{self.stage}-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def requeue_pending(self) -> int:
        """Queue every memory whose node says this stage is unfinished (start-up recovery), except those
        queued or in flight already (in another process of a fleet sharing a StreamQueue)."""
        count = 0
        for page in pages(self.graph.memories.iter_ids(stage=self.stage, status=StageStatus.PENDING)):
            attempts = self.graph.pipeline.stage_attempts(self.stage, page)
            count += self.queue.adopt_items(WorkItem(memory_id, attempts.get(memory_id, 0)) for memory_id in page)
        if count:
            log.info("re-queued unfinished work", extra={"event": f"{self.stage}.requeued", "count": count})
        return count

    # --- the loop
    def run(self) -> None:
        lower_thread_priority(self.nice)
        log.info("worker started", extra={"event": f"{self.stage}.worker_started", "nice": self.nice})
        while not self._stop.is_set():
            try:
                if self.disk is not None and not self.disk.writable():
                    self._stop.wait(DISK_PAUSE_SECONDS)  # every write would fail; the guard logs the change
                    continue
                if self.activity is not None and self.yield_seconds > 0:
                    self.activity.wait_for_quiet(self.yield_seconds)  # requests first
                if not self.run_once(wait=IDLE_WAIT_SECONDS):
                    self.idle()
            except Exception:  # the loop's edge: log, keep serving
                log.exception("worker pass failed", extra={"event": f"{self.stage}.pass_error"})
                self._stop.wait(1.0)
        log.info("worker stopped", extra={"event": f"{self.stage}.worker_stopped"})

    def run_once(self, wait: float = 0.0) -> int:
        """Process one batch if one is ready (waiting up to `wait`); returns its size (0 while paused for disk)."""
        if self.disk is not None and not self.disk.writable():
            return 0  # the batch stays queued, no attempt used
        if self.turn is None:
            return self._one_batch(wait)
        if not self._my_turn(wait):
            return 0  # another process works this namespace's stage now
        try:
            return self._one_batch(wait)
        finally:  # one batch per turn: the fleet's processes take turns, so the namespaces spread over them
            with contextlib.suppress(LociError):
                self.turn.release()

    def _one_batch(self, wait: float) -> int:
        items = self.queue.take(self.batch_size, wait=wait, linger=self.linger)
        if not items:
            return 0
        outages = self._outages
        try:
            self.process(items)
            if self._outages == outages:  # no step of this batch found a store down
                self._outage_over()
            self.stats.add(batches=1)
            self.stats.last_batch_size = len(items)
        except Exception as exc:  # outside any `attempt`: still retried, never dropped from the queue
            log.exception("batch failed", extra={"event": f"{self.stage}.batch_error"})
            self.retry_or_fail(items, LociError(f"unexpected {type(exc).__name__}: {exc}"))
        finally:
            self.queue.done(item.memory_id for item in items)
        return len(items)

    def _my_turn(self, wait: float) -> bool:
        """Take or keep the turn (a renewal while ours); without it, pause as an idle pass would."""
        assert self.turn is not None
        try:
            if self.turn.acquire():
                return True
        except LociError as exc:  # an outage: the queue would fail the same way; look again shortly
            log.warning("turn unavailable", extra={"event": f"{self.stage}.turn_unavailable", "error": exc.message})
        self._stop.wait(wait)
        return False

    def drain(self, timeout: float = 60.0) -> None:
        """Process batches in this thread until nothing is ready (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while self.run_once(wait=0.0):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.stage} queue did not drain")

    # --- failures
    def attempt(self, items: Sequence[WorkItem], step: Callable[[], Any]) -> Any:
        """Run one step for these items; on failure reschedule them and return FAILED."""
        try:
            return step()
        except LociError as exc:
            self.retry_or_fail(items, exc)
        except Exception as exc:  # a bug, or a remote service answering nonsense: retried like any failure
            log.exception("unexpected error in a batch", extra={"event": f"{self.stage}.unexpected"})
            self.retry_or_fail(items, LociError(f"unexpected {type(exc).__name__}: {exc}"))
        return FAILED

    def _outage_over(self) -> None:
        """A batch went through: end the outage (one log line) and restart its backoff from the beginning."""
        if self._outages:
            log.info(
                "store reachable again; batches resume",
                extra={"event": f"{self.stage}.outage_over", "batches_retried": self._outages},
            )
            self._outages = 0

    def retry_or_fail(self, items: Sequence[WorkItem], exc: LociError) -> None:
        """Reschedule failed items, or mark them failed after the last attempt.

        - an outage (a store unreachable) uses no attempts; its backoff grows while it lasts;
        - a batch that failed for a reason that may be one item's own (a rejected input, a
          bug) is split: each item is retried alone, without using an attempt, so one bad
          memory cannot use up the others' attempts;
        - otherwise (one item, or the provider as a whole failing) each item uses an attempt.
        """
        message = exc.message
        self.stats.error(message)
        if isinstance(exc, StoreUnavailable | InsufficientStorage):  # the disk filled mid-batch: no attempt used
            self._outages += 1
            delay = min(self.retry.delay(self._outages), OUTAGE_RETRY_MAX_SECONDS)
            for item in items:
                self.queue.retry(item, delay)
            if self._outages == 1:  # once per outage, not per batch; `_outage_over` logs its end
                log.warning(
                    "store unavailable; batches will retry until it is back",
                    extra={
                        "event": f"{self.stage}.outage",
                        "count": len(items),
                        "delay_s": round(delay, 2),
                        "error": message,
                    },
                )
            return
        whole_service = isinstance(exc, EmbeddingError) and exc.transient
        if len(items) > 1 and not whole_service:
            for item in items:
                self.queue.retry(item, 0.0, isolate=True)
            log.warning(
                "batch failed; retrying its memories one by one",
                extra={"event": f"{self.stage}.split", "count": len(items), "error": message},
            )
            return
        retry_after = exc.retry_after if isinstance(exc, EmbeddingError) else None
        final = [i for i in items if i.attempts + 1 >= self.retry.max_attempts]
        again = [i for i in items if i not in final]
        for item in again:
            delay = self.retry.delay(item.attempts + 1, retry_after)
            self.queue.retry(WorkItem(item.memory_id, item.attempts + 1), delay)
        log.warning(
            "stage failed",
            extra={
                "event": f"{self.stage}.retry",
                "memory_ids": [i.memory_id for i in items],
                "failed_for_good": [i.memory_id for i in final],
                "error": message,
            },
        )
        for item in items:
            self.events.publish(
                f"{self.stage}.failed",
                memory_id=item.memory_id,
                error=message[:100],
                attempt=item.attempts + 1,
                will_retry=item not in final,
            )
        self.stats.add(retries=len(again), failed=len(final))
        self._record(again, message, final=False)
        self._record(final, message, final=True)

    def _record(self, items: Sequence[WorkItem], message: str, *, final: bool) -> None:
        if not items:
            return
        try:
            self.graph.pipeline.record_stage_error(
                self.stage,
                [i.memory_id for i in items],
                message,
                {i.memory_id: i.attempts + 1 for i in items},
                final=final,
            )
        except LociError:
            log.warning("could not record the error on the nodes", extra={"event": f"{self.stage}.record_error"})


def lower_thread_priority(nice: int) -> None:
    """Give this thread (and the math threads it starts) a lower CPU priority.

    Linux schedules threads individually, and torch's OpenMP team inherits the niceness of
    the thread that first runs a model in it. Background work then uses the CPU that
    requests leave idle instead of competing with them.
    """
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError:
        log.warning("could not lower the thread's priority", extra={"event": "worker.nice_failed"})
