"""EmbeddingWorker: turns queued memory ids into vectors in the vector store.

Each pass takes a batch from the `Queue`, reads the memories from the graph (so an
edit made while the id waited is what gets embedded), makes one provider call for the batch,
writes the vectors (with a remote provider, answers that arrive together are written in one
group: loci/pipeline/groupcommit.py), marks the nodes `completed`, and links each new vector to
its nearest neighbours (`SIMILAR_TO`, both ways, cosine >= ENRICHMENT_SIMILARITY_THRESHOLD):
the similarity links are made the moment a vector exists, never skipped for want of one.
A memory whose content has not changed since its vector was made only has its payload
rewritten. Failures are retried through the queue (see `StageWorker`); nothing is ever
stored in place of a real vector.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from loci.activity import RequestActivity
from loci.config import Settings
from loci.diskspace import DiskGuard
from loci.embedding import EmbeddingProvider
from loci.errors import LociError
from loci.events import EventBus
from loci.model import Memory, Stage, StageStatus, content_hash
from loci.pipeline.groupcommit import GroupCommit
from loci.pipeline.queue import Queue, WorkItem
from loci.pipeline.worker import FAILED, RetryPolicy, StageWorker
from loci.stores.filters import MemoryFilter
from loci.stores.graph import GraphStore
from loci.stores.vectors import VectorPoint, VectorStore

log = logging.getLogger(__name__)


class EmbeddingWorker(StageWorker):
    stage = Stage.EMBEDDING

    def __init__(
        self,
        graph: GraphStore,
        vectors: VectorStore,
        provider: EmbeddingProvider,
        queue: Queue,
        settings: Settings,
        events: EventBus | None = None,
        activity: RequestActivity | None = None,
        disk: DiskGuard | None = None,
    ) -> None:
        # A remote provider is waited on, so several requests in flight pay off; a local model is CPU-bound.
        in_flight = settings.embedding_concurrency if provider.remote else 1
        super().__init__(
            graph,
            queue,
            batch_size=settings.embedding_batch_size,
            linger=settings.embedding_batch_timeout_seconds,
            retry=RetryPolicy(
                settings.embedding_max_attempts,
                settings.embedding_retry_base_seconds,
                settings.embedding_retry_max_seconds,
            ),
            nice=settings.worker_nice,
            # twice as many threads as requests in flight: while one thread writes or waits for a group
            # write, another keeps its request slot busy
            concurrency=2 * in_flight if in_flight > 1 else 1,
            events=events,
            activity=activity,
            yield_seconds=settings.worker_yield_seconds,
            disk=disk,
        )
        self.vectors, self.provider = vectors, provider
        self.similarity_threshold = settings.enrichment_similarity_threshold
        self.similarity_limit = settings.enrichment_similarity_limit
        self.neighbour_filter = MemoryFilter(excluded_types=settings.recall_excluded_types)
        self._commits = GroupCommit(self._write)
        self.in_flight = in_flight
        """Provider requests at once, at most (EMBEDDING_CONCURRENCY for a remote provider, else 1)."""
        self._slots = threading.BoundedSemaphore(in_flight)

    def idle(self) -> None:
        self.vectors.maintain()

    def process(self, items: Sequence[WorkItem]) -> None:
        """Embed (or refresh the payload of) one batch; every failure is retried or recorded, never dropped."""
        memories = self.attempt(items, lambda: self.graph.memories.get_many([item.memory_id for item in items]))
        if memories is FAILED:
            return
        live = [item for item in items if item.memory_id in memories]
        refresh = [i for i in live if _vector_current(memories[i.memory_id])]
        embed = [i for i in live if not _vector_current(memories[i.memory_id])]
        if refresh:
            missing = self.attempt(refresh, lambda: self._refresh_payloads(refresh, memories))
            embed += [] if missing is FAILED else missing
        if embed:
            self.attempt(embed, lambda: self._embed(embed, memories))

    def _embed(self, items: Sequence[WorkItem], memories: dict[str, Memory]) -> None:
        batch = [memories[item.memory_id] for item in items]
        with self._slots:
            vectors = self.provider.embed([memory.content for memory in batch])
        self._commits.submit(Embedded(list(zip(batch, vectors, strict=True))))

    def _write(self, group: list[Embedded]) -> None:
        """Store the vectors of one or more embedded batches together (see loci/pipeline/groupcommit.py).

        A failure is raised in every thread whose batch was in the group, and each reschedules
        its own items (its `attempt` in `process`): the leader never touches another thread's items.
        """
        self._store([pair for entry in group for pair in entry.pairs])

    def _store(self, embedded: list[tuple[Memory, list[float]]]) -> None:
        self.vectors.upsert([VectorPoint(memory.id, vector, memory.payload()) for memory, vector in embedded])
        marked = self.graph.pipeline.mark_embedded(
            [(memory.id, content_hash(memory.content)) for memory, _ in embedded]
        )
        self._remove_orphans([memory.id for memory, _ in embedded if memory.id not in set(marked)])
        self.stats.succeeded(marked)
        log.info(
            "memories embedded", extra={"event": "embedding.completed", "count": len(marked), "memory_ids": marked}
        )
        by_id = {memory.id: vector for memory, vector in embedded}
        try:  # the vectors are stored and marked: a failure here must not undo that
            self._link_similar({memory_id: by_id[memory_id] for memory_id in marked})
        except LociError as exc:
            log.warning("similarity links not made", extra={"event": "embedding.similar_failed", "error": exc.message})

    def _link_similar(self, vectors: dict[str, list[float]]) -> None:
        """SIMILAR_TO both ways between each new vector and its close neighbours (replacing older links)."""
        if not vectors or self.similarity_limit == 0:
            return
        ids = list(vectors)
        found = self.vectors.search_batch([vectors[i] for i in ids], self.similarity_limit + 1, self.neighbour_filter)
        pairs = [
            (memory_id, hit.id, round(hit.score, 4))
            for memory_id, hits in zip(ids, found, strict=True)
            for hit in hits
            if hit.id != memory_id and hit.score >= self.similarity_threshold
        ]
        self.graph.pipeline.replace_similar(ids, pairs)

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
        gone = sorted(set(ids) - self.graph.memories.existing_ids(ids))
        if gone:
            self.vectors.delete(gone)
            log.info(
                "removed vectors of deleted memories", extra={"event": "embedding.orphans_removed", "memory_ids": gone}
            )


@dataclass(frozen=True)
class Embedded:
    """One batch's provider answer, waiting to be written."""

    pairs: list[tuple[Memory, list[float]]]
    """Each memory with its new vector."""


def _vector_current(memory: Memory) -> bool:
    """True when the stored vector was made from the memory's present content."""
    return memory.embedding_status is StageStatus.COMPLETED and memory.embedded_hash == content_hash(memory.content)
