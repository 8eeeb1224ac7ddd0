"""Settler: stores whose outcome is unknown, settled once the graph answers again.

A graph write that timed out, or whose connection dropped, may have been applied or not:
`StoreTimeout` and `GraphUnavailable` (the exception cannot tell "could not connect" from
"sent, no answer", so both count as unknown, which is always safe). `store_many`
(loci/writes.py) then keeps the memories' de-duplication claims and hands the write
here instead of releasing them. Settling asks the graph which of those memories exist:

- landed: finished like any store: the client's own vectors are written, the others
  queued for embedding, all queued for enrichment, `memory.stored` published;
- not landed: the claim is released, only while it still names that memory.

A retry of the same store meets the kept claim and settles its original at once
(`settle_original`): it is answered with the original if that landed (deduplicated),
otherwise it takes the claim over and is stored once. Idempotency-Key releases that
failed (loci/api/idempotency.py) are retried here as well; their markers lapse on their own
meanwhile (loci/stores/idempotency.py).

One daemon thread settles every SETTLE_INTERVAL_SECONDS while anything is unsettled. The
check runs only once the graph answers, and at least SETTLE_GRACE_SECONDS after the
failure, so a server that stalled has run what it had received before it is asked. The
record lives in this process: after a crash, start-up re-queues the pending memories that
landed, and claims of those that did not expire with the idempotency window.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loci.errors import GraphUnavailable, LociError, StoreTimeout, StoreUnavailable
from loci.model import Memory
from loci.pipeline.intake import Intake
from loci.stores.graph import GraphStore
from loci.stores.idempotency import Lease, RequestLog

log = logging.getLogger(__name__)

SETTLE_INTERVAL_SECONDS = 1.0
"""How often the thread looks for unsettled writes."""
SETTLE_GRACE_SECONDS = 0.5
"""How long after a failure a write is first checked (a stalled server runs what it had received)."""


def outcome_unknown(exc: LociError) -> bool:
    """True for errors after which a graph write may or may not have been applied."""
    return isinstance(exc, StoreTimeout | GraphUnavailable)


@dataclass(frozen=True)
class UnsettledWrite:
    memory: Memory
    fingerprint: str
    vector: list[float] | None
    """The client's own vector, written if the memory landed."""
    failed_at: float


class Settler:
    def __init__(
        self,
        graph: GraphStore,
        requests: RequestLog,
        intake: Intake,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`graph` is asked whether it answers and which memories exist; `intake` finishes those that landed."""
        self.graph, self.requests, self.intake = graph, requests, intake
        self._clock = clock
        self._lock = threading.Lock()
        self._writes: dict[str, UnsettledWrite] = {}
        self._leases: list[Lease] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- recording
    def add(self, memories: Sequence[Memory], fingerprints: Sequence[str], vectors: dict[str, list[float]]) -> None:
        """Keep a write whose outcome is unknown (its claims stay) until it is settled."""
        now = self._clock()
        with self._lock:
            for memory, digest in zip(memories, fingerprints, strict=True):
                self._writes[memory.id] = UnsettledWrite(memory, digest, vectors.get(memory.id), now)
        log.warning(
            "store outcome unknown; claims kept until the graph answers",
            extra={"event": "store.unsettled", "memory_ids": [m.id for m in memories][:20], "count": len(memories)},
        )

    def free_later(self, lease: Lease) -> None:
        """An Idempotency-Key whose release failed: freed on the next pass that reaches the store."""
        with self._lock:
            self._leases.append(lease)

    @property
    def unsettled(self) -> int:
        with self._lock:
            return len(self._writes) + len(self._leases)

    # --- settling
    def settle_original(self, memory_id: str, found: Memory | None) -> bool:
        """A retry met this memory's claim and read it from the graph (`found`, or None if absent).
        Settles it if it was unsettled, returning True; the retry then takes the claim over if absent."""
        with self._lock:
            write = self._writes.pop(memory_id, None)
        if write is None:
            return False
        try:
            if found is None and self._clock() - write.failed_at < SETTLE_GRACE_SECONDS:
                # a stalled server may still run it: absent now does not mean it never lands
                raise StoreUnavailable(
                    "An earlier attempt of this store is being settled; retry in a moment", retry_after=1
                )
            if found is not None:
                self._finish([write])
        except LociError:
            with self._lock:  # still unsettled: the thread (or the next retry) settles it
                self._writes.setdefault(memory_id, write)
            raise
        log.info(
            "store settled by a retry",
            extra={"event": "store.settled", "memory_id": memory_id, "landed": found is not None},
        )
        return True

    def settle(self) -> int:
        """One pass: settle every write due and free every failed key; returns how many writes were
        settled. Raises LociError if the graph does not answer (everything stays for the next pass)."""
        now = self._clock()
        with self._lock:
            due = [w.memory.id for w in self._writes.values() if now - w.failed_at >= SETTLE_GRACE_SECONDS]
            leases, self._leases = self._leases, []
        if not due and not leases:
            return 0
        try:
            self.graph.ping()
            existing = self.graph.memories.existing_ids(due) if due else set()
            for lease in leases:
                self.requests.free(lease)
        except LociError:
            with self._lock:
                self._leases = leases + self._leases
            raise
        with self._lock:  # a retry may have settled some meanwhile
            writes = [w for w in (self._writes.pop(memory_id, None) for memory_id in due) if w is not None]
        try:
            self._finish([w for w in writes if w.memory.id in existing])
            self.requests.release([(w.fingerprint, w.memory.id) for w in writes if w.memory.id not in existing])
        except LociError:
            with self._lock:
                for write in writes:
                    self._writes.setdefault(write.memory.id, write)
            raise
        if writes:
            log.info(
                "unsettled stores settled",
                extra={
                    "event": "store.settled",
                    "landed": sorted(w.memory.id for w in writes if w.memory.id in existing)[:20],
                    "count": len(writes),
                },
            )
        return len(writes)

    def _finish(self, writes: Sequence[UnsettledWrite]) -> None:
        """What a store does after its graph write (loci/pipeline/intake.py): client vectors, queues, events."""
        if not writes:
            return
        given = {w.memory.id: w.vector for w in writes if w.vector is not None}
        self.intake.announce(self.intake.write_client_vectors([w.memory for w in writes], given))

    # --- the thread
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="loci-settler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        while not self._stop.wait(SETTLE_INTERVAL_SECONDS):
            try:
                self.settle()
            except LociError:
                pass  # the graph does not answer yet: the next pass tries again
            except Exception:  # the loop's edge: log, keep settling
                log.exception("settling failed", extra={"event": "store.settle_error"})
