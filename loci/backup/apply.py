"""Restorer: one validated page of a restore (`POST /admin/restore`) written into the stores.

A page is idempotent: memories whose id is already present are left as they are (and
reported), side nodes are created only when absent, edges are MERGEd. So a page sent again
after a crash or a lost answer changes nothing twice, and `--merge` never overwrites.

Order inside a page, so that a failure part-way leaves nothing a retry cannot finish: the
vectors of the new memories first (a point without its node is invisible to recall, and the
retry writes it again), then the memory nodes in one query (already marked embedded where
their vector landed), then side nodes and edges. A store that keeps vectors on the nodes
(`on_graph`: FalkorDB) gets them right after the nodes instead; should that write fail, the
sync job finds those memories embedded without a vector and embeds them again. Memories whose backup vector has another
dimension than the running model's, or none, are queued for the embedding worker; those the
backup does not mark enriched are queued for enrichment.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from loci.errors import Conflict
from loci.model import Memory, StageStatus, content_hash
from loci.pipeline.queue import Queue
from loci.schemas import RestoreMemory, RestorePage
from loci.stores.graph import BackupQueries
from loci.stores.vectors import VectorPoint, VectorStore
from loci.timeutil import iso, utcnow

log = logging.getLogger(__name__)


@dataclass
class PageOutcome:
    """What one page did (the response of POST /admin/restore)."""

    restored: int = 0
    present_ids: list[str] = field(default_factory=list)
    """Memories already in the store (a page sent again, or --merge): left as they are."""
    vectors: int = 0
    """Restored memories whose backup vector was kept."""
    reembed: int = 0
    """Restored memories queued for the embedding worker (no vector, or another dimension)."""
    enrich: int = 0
    nodes: int = 0
    edges: int = 0
    edges_missing_end: int = 0
    """Edges not written because one of their nodes is in neither the store nor the backup."""
    dimension: int = 0

    def body(self) -> dict[str, Any]:
        return {"status": "success", **asdict(self)}


class Restorer:
    """Writes restore pages through the stores and hands the new memories to the pipeline."""

    def __init__(
        self,
        queries: BackupQueries,
        count_memories: Callable[[], int],
        vectors: VectorStore,
        embedding_queue: Queue,
        enrichment_queue: Queue,
    ) -> None:
        self.queries, self.count_memories, self.vectors = queries, count_memories, vectors
        self.embedding_queue, self.enrichment_queue = embedding_queue, enrichment_queue

    def apply(self, page: RestorePage) -> PageOutcome:
        outcome = PageOutcome(dimension=self.vectors.dimension)
        if page.expect_empty:
            held = self.count_memories()
            if held:
                raise Conflict(f"The store already holds {held} memories; restore with --merge to add to them")
        given = {m.id: m for m in page.memories}  # the last of repeated ids wins
        missing = set(self.queries.missing_ids(list(given)))
        outcome.present_ids = [memory_id for memory_id in given if memory_id not in missing]
        now = iso(utcnow())
        new = [to_memory(given[memory_id], now, self.vectors.dimension) for memory_id in given if memory_id in missing]
        points = [
            VectorPoint(m.id, given[m.id].vector, m.payload())
            for m in new
            if m.embedding_status is StageStatus.COMPLETED
        ]
        if points and not self.vectors.on_graph:
            self.vectors.upsert(points)
        self.queries.create_memories(new)
        if points and self.vectors.on_graph:
            self.vectors.upsert(points)
        for label, rows in _side_nodes(page).items():
            self.queries.merge_side_nodes(label, rows)
        outcome.nodes = len(page.nodes)
        for kind, rows in _edges(page).items():
            landed = self.queries.merge_edges(kind, rows)
            outcome.edges += landed
            outcome.edges_missing_end += len(rows) - landed
        outcome.restored, outcome.vectors = len(new), len(points)
        outcome.reembed = self.embedding_queue.put_many(m.id for m in new if m.embedding_status is StageStatus.PENDING)
        outcome.enrich = self.enrichment_queue.put_many(m.id for m in new if m.enrichment_status is StageStatus.PENDING)
        log.info(
            "restore page written",
            extra={
                "event": "restore.page",
                "restored": outcome.restored,
                "present": len(outcome.present_ids),
                "vectors": outcome.vectors,
                "edges": outcome.edges,
                "edges_missing_end": outcome.edges_missing_end,
            },
        )
        return outcome


def to_memory(item: RestoreMemory, now: str, dimension: int) -> Memory:
    """The Memory a backup's record becomes: its own id and times; embedded when its vector fits."""
    timestamp = item.timestamp or item.stored_at or now
    updated_at = item.updated_at or timestamp
    embedded = item.vector is not None and len(item.vector) == dimension
    return Memory(
        id=item.id,
        content=item.content,
        type=item.type or "Memory",
        confidence=item.confidence if item.confidence is not None else 0.5,
        importance=item.importance if item.importance is not None else 0.5,
        timestamp=timestamp,
        updated_at=updated_at,
        last_accessed=item.last_accessed or updated_at,
        t_valid=item.t_valid or timestamp,
        t_invalid=item.t_invalid,
        tags=item.tags or [],
        metadata=item.metadata or {},
        embedding_status=StageStatus.COMPLETED if embedded else StageStatus.PENDING,
        embedded_hash=content_hash(item.content) if embedded else None,
        enrichment_status=StageStatus.COMPLETED if item.enriched else StageStatus.PENDING,
        enriched_at=item.enriched_at if item.enriched else None,
        summary=item.summary,
        archived=item.archived,
        archived_at=item.archived_at,
        protected=item.protected,
        relevance_score=item.relevance_score,
        stored_at=item.stored_at or timestamp,
        extra=dict(item.extra),
    )


def _side_nodes(page: RestorePage) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for node in page.nodes:
        grouped[node.label].append(node.properties)
    return grouped


def _edges(page: RestorePage) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for edge in page.edges:
        grouped[edge.type].append(
            {
                "src": edge.source,
                "src_label": edge.source_label,
                "dst": edge.target,
                "dst_label": edge.target_label,
                "props": edge.properties,
            }
        )
    return grouped
