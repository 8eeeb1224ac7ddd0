"""Intake: what follows a memory's graph write, wherever it was made: a store (loci/writes.py),
or the settling of a store whose outcome was unknown (loci/unsettled.py).

The vectors the client sent with its memories are written and those memories marked embedded;
then every new memory is queued for the stages it still needs and announced on the event bus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from loci.events import EventBus
from loci.model import Memory, StageStatus, content_hash
from loci.pipeline.queue import Queue
from loci.stores.graph import PipelineQueries
from loci.stores.vectors import VectorPoint, VectorStore


class Intake:
    """Hands written memories to the pipeline: client vectors, the stage queues, the event bus."""

    def __init__(
        self,
        pipeline: PipelineQueries,
        vectors: VectorStore,
        embedding_queue: Queue,
        enrichment_queue: Queue,
        events: EventBus,
    ) -> None:
        self.pipeline, self.vectors, self.events = pipeline, vectors, events
        self.embedding_queue, self.enrichment_queue = embedding_queue, enrichment_queue

    def write_client_vectors(self, memories: Sequence[Memory], given: Mapping[str, list[float]]) -> list[Memory]:
        """Upsert the vectors clients sent (`given`, by memory id) and mark those memories embedded;
        returns the memories as they now are. Raises the stores' errors; nothing is undone here."""
        with_vectors = [m for m in memories if m.id in given]
        if not with_vectors:
            return list(memories)
        self.vectors.upsert([VectorPoint(m.id, given[m.id], m.payload()) for m in with_vectors])
        self.pipeline.mark_embedded([(m.id, content_hash(m.content)) for m in with_vectors])
        done = {m.id for m in with_vectors}
        return [
            m.with_changes(embedding_status=StageStatus.COMPLETED, embedded_hash=content_hash(m.content))
            if m.id in done
            else m
            for m in memories
        ]

    def announce(self, memories: Sequence[Memory]) -> None:
        """Queue new memories for embedding (unless their vector came with them) and enrichment;
        publish `memory.stored`."""
        self.embedding_queue.put_many(m.id for m in memories if m.embedding_status is StageStatus.PENDING)
        self.enrichment_queue.put_many(m.id for m in memories)
        for memory in memories:
            self.events.publish("memory.stored", memory_id=memory.id, type=memory.type, tags=memory.tags)

    def adopt_unfinished(self, memory: Memory) -> None:
        """Queue a stored memory's pending stages unless something is working on them already
        (e.g. a write that timed out but landed, in an earlier process)."""
        if memory.embedding_status is StageStatus.PENDING:
            self.embedding_queue.adopt([memory.id])
        if memory.enrichment_status is StageStatus.PENDING:
            self.enrichment_queue.adopt([memory.id])

    def changed(self, memory: Memory, *, content_changed: bool) -> None:
        """An edited memory: the embedding stage re-embeds changed content or rewrites the payload
        of an unchanged vector; changed content is enriched again."""
        if memory.embedding_status is not StageStatus.FAILED:
            self.embedding_queue.put(memory.id)
        if content_changed:
            self.enrichment_queue.put(memory.id)
