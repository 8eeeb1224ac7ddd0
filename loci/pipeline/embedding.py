"""EmbeddingWorker: turns queued memory ids into vectors in the vector store.

Each pass takes a batch from the `WorkQueue`, reads the memories from the graph (so an
edit made while the id waited is what gets embedded), makes one provider call and one
vector upsert for the batch, and marks the nodes `completed`. A memory whose content
has not changed since its vector was made only has its payload rewritten.

A failure re-queues the memory with exponential backoff and jitter (honouring a
provider's Retry-After); after EMBEDDING_MAX_ATTEMPTS it is marked `failed` on its node
with the reason. A store outage is retried without using up attempts. Nothing is ever
stored in place of a real vector.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from loci.config import Settings
from loci.embedding import EmbeddingProvider
from loci.errors import EmbeddingError, LociError, StoreUnavailable
from loci.memory import EmbeddingStatus, Memory, content_hash
from loci.pipeline.queue import WorkItem, WorkQueue
from loci.stores.graph import GraphStore
from loci.stores.vectors import VectorPoint, VectorStore

log = logging.getLogger(__name__)

_FAILED = object()
"""What `_attempt` returns when a step failed (its items are already rescheduled)."""

IDLE_WAIT_SECONDS = 0.5
"""How long one pass waits for work before checking the stop flag again."""


@dataclass
class EmbeddingStats:
    processed: int = 0
    failed: int = 0
    retries: int = 0
    batches: int = 0
    last_batch_size: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def error(self, message: str) -> None:
        with self._lock:
            self.last_error, self.last_error_at = message, time.time()


class EmbeddingWorker:
    """One daemon thread draining the embedding queue in batches."""

    def __init__(
        self,
        graph: GraphStore,
        vectors: VectorStore,
        provider: EmbeddingProvider,
        queue: WorkQueue,
        settings: Settings,
    ) -> None:
        self.graph, self.vectors, self.provider, self.queue = graph, vectors, provider, queue
        self.batch_size = settings.embedding_batch_size
        self.linger = settings.embedding_batch_timeout_seconds
        self.max_attempts = settings.embedding_max_attempts
        self.retry_base = settings.embedding_retry_base_seconds
        self.retry_max = settings.embedding_retry_max_seconds
        self.nice = settings.embedding_worker_nice
        self.stats = EmbeddingStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle
    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="loci-embedding", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def requeue_pending(self) -> int:
        """Queue every memory whose node says it still needs a vector (start-up recovery)."""
        count = 0
        page: list[str] = []
        for memory_id in self.graph.iter_ids(status=EmbeddingStatus.PENDING):
            page.append(memory_id)
            if len(page) >= 1000:
                count += self.queue.put_many(page)
                page = []
        count += self.queue.put_many(page)
        if count:
            log.info("re-queued pending embeddings", extra={"event": "embedding.requeued", "count": count})
        return count

    # --- the loop
    def run(self) -> None:
        lower_thread_priority(self.nice)
        log.info("embedding worker started", extra={"event": "embedding.worker_started", "nice": self.nice})
        while not self._stop.is_set():
            try:
                if not self.run_once(wait=IDLE_WAIT_SECONDS):
                    self.vectors.maintain()
            except Exception:  # the loop's edge: log, keep serving
                log.exception("embedding pass failed", extra={"event": "embedding.pass_error"})
                self._stop.wait(1.0)
        log.info("embedding worker stopped", extra={"event": "embedding.worker_stopped"})

    def run_once(self, wait: float = 0.0) -> int:
        """Process one batch if one is ready (waiting up to `wait`); returns its size."""
        items = self.queue.take(self.batch_size, wait=wait, linger=self.linger)
        if not items:
            return 0
        try:
            self.process(items)
        finally:
            self.queue.done(item.memory_id for item in items)
        return len(items)

    def drain(self, timeout: float = 60.0) -> None:
        """Process batches in this thread until nothing is ready (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while self.run_once(wait=0.0):
            if time.monotonic() > deadline:
                raise TimeoutError("embedding queue did not drain")

    # --- one batch
    def process(self, items: Sequence[WorkItem]) -> None:
        """Embed (or refresh the payload of) one batch; every failure is retried or recorded, never dropped."""
        started = time.perf_counter()
        memories = self._attempt(items, lambda: self.graph.get_memories([item.memory_id for item in items]))
        if memories is _FAILED:
            return
        live = [item for item in items if item.memory_id in memories]
        refresh = [i for i in live if _vector_current(memories[i.memory_id])]
        embed = [i for i in live if not _vector_current(memories[i.memory_id])]
        if refresh:
            missing = self._attempt(refresh, lambda: self._refresh_payloads(refresh, memories))
            embed += [] if missing is _FAILED else missing
        if embed and self._attempt(embed, lambda: self._embed(embed, memories)) is _FAILED:
            return
        self.stats.add(batches=1)
        self.stats.last_batch_size = len(items)
        log.debug(
            "embedding batch done",
            extra={
                "event": "embedding.batch",
                "size": len(items),
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )

    def _attempt(self, items: Sequence[WorkItem], step: Callable[[], Any]) -> Any:
        """Run one step for these items; on failure schedule their retry and return _FAILED."""
        try:
            return step()
        except LociError as exc:
            self._retry_or_fail(items, exc)
        except Exception as exc:  # a bug, or a provider answering nonsense: retried like any failure
            log.exception("unexpected error in embedding batch", extra={"event": "embedding.unexpected"})
            self._retry_or_fail(items, LociError(f"unexpected {type(exc).__name__}: {exc}"))
        return _FAILED

    def _embed(self, items: Sequence[WorkItem], memories: dict[str, Memory]) -> None:
        batch = [memories[item.memory_id] for item in items]
        vectors = self.provider.embed([memory.content for memory in batch])
        self.vectors.upsert(
            [VectorPoint(memory.id, vector, memory.payload()) for memory, vector in zip(batch, vectors, strict=True)]
        )
        marked = self.graph.mark_embedded([(m.id, content_hash(m.content)) for m in batch])
        self._remove_orphans([m.id for m in batch if m.id not in set(marked)])
        self.stats.add(processed=len(marked))
        log.info(
            "memories embedded", extra={"event": "embedding.completed", "count": len(marked), "memory_ids": marked}
        )

    def _refresh_payloads(self, items: Sequence[WorkItem], memories: dict[str, Memory]) -> list[WorkItem]:
        """Rewrite payloads of unchanged memories; return those whose vector is missing."""
        found = {p.id: p for p in self.vectors.retrieve([i.memory_id for i in items], with_vectors=True)}
        self.vectors.upsert(
            [VectorPoint(pid, point.vector, memories[pid].payload()) for pid, point in found.items() if point.vector]
        )
        self._remove_orphans(list(found))
        if found:
            log.info(
                "vector payloads refreshed",
                extra={"event": "embedding.payload_refreshed", "count": len(found), "memory_ids": list(found)},
            )
        return [item for item in items if not found.get(item.memory_id) or not found[item.memory_id].vector]

    def _remove_orphans(self, ids: list[str]) -> None:
        """Delete vectors just written for memories deleted meanwhile (their own delete may have run first)."""
        if not ids:
            return
        gone = sorted(set(ids) - self.graph.existing_ids(ids))
        if gone:
            self.vectors.delete(gone)
            log.info(
                "removed vectors of deleted memories", extra={"event": "embedding.orphans_removed", "memory_ids": gone}
            )

    def _retry_or_fail(self, items: Sequence[WorkItem], exc: LociError) -> None:
        message = exc.message
        self.stats.error(message)
        outage = isinstance(exc, StoreUnavailable)
        retry_after = exc.retry_after if isinstance(exc, EmbeddingError) else None
        final = [] if outage else [i for i in items if i.attempts + 1 >= self.max_attempts]
        again = [i for i in items if i not in final]
        for item in again:
            attempts = item.attempts if outage else item.attempts + 1
            delay = self.backoff(attempts, retry_after)
            self.queue.retry(WorkItem(item.memory_id, attempts), delay)
            log.warning(
                "embedding failed, will retry",
                extra={
                    "event": "embedding.retry",
                    "memory_id": item.memory_id,
                    "attempt": item.attempts + 1,
                    "delay_s": round(delay, 2),
                    "error": message,
                },
            )
        self.stats.add(retries=len(again), failed=len(final))
        for item in final:
            log.error(
                "embedding failed for good",
                extra={
                    "event": "embedding.failed",
                    "memory_id": item.memory_id,
                    "attempts": item.attempts + 1,
                    "error": message,
                },
            )
        self._record(again, message, final=False, outage=outage)
        self._record(final, message, final=True, outage=outage)

    def _record(self, items: Sequence[WorkItem], message: str, *, final: bool, outage: bool) -> None:
        if not items or (outage and not final):
            return
        try:
            self.graph.record_embedding_error(
                [i.memory_id for i in items], message, {i.memory_id: i.attempts + 1 for i in items}, final=final
            )
        except LociError:
            log.warning("could not record embedding error on nodes", extra={"event": "embedding.record_error"})

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Exponential backoff with jitter, at least the provider's Retry-After."""
        delay = min(self.retry_max, self.retry_base * (2 ** max(attempts - 1, 0)))
        delay *= random.uniform(0.5, 1.0)
        return max(delay, retry_after or 0.0)


def lower_thread_priority(nice: int) -> None:
    """Give this thread (and the math threads it starts) a lower CPU priority.

    Linux schedules threads individually, and torch's OpenMP team inherits the niceness of
    the thread that first runs a model in it. Background embedding then uses the CPU that
    requests leave idle instead of competing with them.
    """
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError:
        log.warning("could not lower the embedding thread's priority", extra={"event": "embedding.nice_failed"})


def _vector_current(memory: Memory) -> bool:
    """True when the stored vector was made from the memory's present content."""
    return memory.embedding_status is EmbeddingStatus.COMPLETED and memory.embedded_hash == content_hash(memory.content)
