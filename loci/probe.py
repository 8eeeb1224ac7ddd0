"""StoreProbe: what /health reads from the stores, within a deadline whatever the stores do.

A stalled FalkorDB (SIGSTOP, a disk that hangs) would hold a health check until the graph's
own deadline; a platform's probe gives up long before that and restarts a service that was
only waiting. So the probe runs the reads in threads of its own and waits at most
`deadline` seconds: what has not answered by then is reported as not answering. A read
still running from an earlier check is joined rather than started again, so a stalled
store never piles up health threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

from loci.model import Stage
from loci.stores.graph import GraphStore
from loci.stores.vectors import VectorStore

T = TypeVar("T")

HEALTH_DEADLINE_SECONDS = 0.8
"""The longest /health waits for the stores, so it answers within a second."""


@dataclass(frozen=True)
class GraphReport:
    states: dict[Stage, dict[str, int]]
    """Memories per pipeline state, per stage."""
    last_sync: dict[str, Any] | None


@dataclass(frozen=True)
class Reading:
    """One store's answer: `value`, or `error` saying why there is none."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class StoreProbe:
    def __init__(
        self,
        graph: GraphStore,
        vectors: VectorStore,
        excluded_types: tuple[str, ...],
        deadline: float = HEALTH_DEADLINE_SECONDS,
    ) -> None:
        self.graph, self.vectors, self.excluded_types, self.deadline = graph, vectors, excluded_types, deadline
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="loci-health")
        self._running: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()

    def read(self) -> tuple[Reading, Reading]:
        """(graph: GraphReport, vectors: point count), each within the deadline."""
        graph = self._start("graph", self._read_graph)
        vectors = self._start("vectors", self._read_vectors)
        both: list[Future[Any]] = [graph, vectors]
        wait(both, timeout=self.deadline)
        return self._reading(graph, "FalkorDB"), self._reading(vectors, "the vector store")

    def _read_graph(self) -> GraphReport:
        self.graph.ping()
        return GraphReport(
            self.graph.memories.stage_counts(self.excluded_types), self.graph.maintenance.last_run("sync")
        )

    def _read_vectors(self) -> int:
        self.vectors.ping()
        return self.vectors.count()

    def _start(self, name: str, read: Callable[[], T]) -> Future[T]:
        with self._lock:
            running = self._running.get(name)
            if running is None or running.done():
                running = self._pool.submit(read)
                self._running[name] = running
            return running

    def _reading(self, future: Future[Any], store: str) -> Reading:
        if not future.done():
            return Reading(error=f"{store} did not answer within {self.deadline:g}s")
        try:
            return Reading(value=future.result())
        except Exception as exc:  # health reports every failure, it never fails itself
            return Reading(error=str(exc) or type(exc).__name__)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
