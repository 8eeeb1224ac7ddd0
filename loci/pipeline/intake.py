"""What follows a memory's graph write, wherever it was made: a store (loci/writes.py), or the
settling of a store whose outcome was unknown (loci/unsettled.py).

The vectors the client sent with its memories are written and those memories marked embedded;
then every new memory is queued for the stages it still needs and announced on the event bus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from loci.events import EventBus
from loci.model import Memory, StageStatus, content_hash
from loci.pipeline.queue import WorkQueue
from loci.stores.graph import GraphStore
from loci.stores.vectors import VectorPoint, VectorStore


def write_client_vectors(
    graph: GraphStore, vectors: VectorStore, memories: Sequence[Memory], given: Mapping[str, list[float]]
) -> list[Memory]:
    """Upsert the vectors clients sent (`given`, by memory id) and mark those memories embedded;
    returns the memories as they now are. Raises the stores' errors; nothing is undone here."""
    with_vectors = [m for m in memories if m.id in given]
    if not with_vectors:
        return list(memories)
    vectors.upsert([VectorPoint(m.id, given[m.id], m.payload()) for m in with_vectors])
    graph.mark_embedded([(m.id, content_hash(m.content)) for m in with_vectors])
    done = {m.id for m in with_vectors}
    return [
        m.with_changes(embedding_status=StageStatus.COMPLETED, embedded_hash=content_hash(m.content))
        if m.id in done
        else m
        for m in memories
    ]


def announce(
    memories: Sequence[Memory], embedding_queue: WorkQueue, enrichment_queue: WorkQueue, events: EventBus
) -> None:
    """Queue new memories for embedding (unless their vector came with them) and enrichment; publish `memory.stored`."""
    embedding_queue.put_many(m.id for m in memories if m.embedding_status is StageStatus.PENDING)
    enrichment_queue.put_many(m.id for m in memories)
    for memory in memories:
        events.publish("memory.stored", memory_id=memory.id, type=memory.type, tags=memory.tags)
