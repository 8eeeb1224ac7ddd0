"""SyncJob: keeps the vector store in step with the graph, page by page.

1. Every memory whose node says its vector is `completed` is looked up in the vector
   store a page at a time: a missing vector is marked pending and queued for embedding;
   a payload that disagrees with the graph (content, tags, type, validity, ...) is queued
   for a payload rewrite.
2. Every vector id is checked against the graph a page at a time: vectors whose memory
   is gone (orphans) are deleted.
3. Memories the graph says are still pending for a stage are put back in that stage's
   queue (a no-op for those already queued), so nothing waits for a restart.
A dry run only counts. Nothing is read in one unbounded query, so it scales past
FalkorDB's result-set cap.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from loci.config import Settings
from loci.model import Memory, Stage, StageStatus
from loci.pipeline.queue import Queue
from loci.stores.graph import PAGE_SIZE, GraphStore, pages
from loci.stores.vectors import VectorStore

log = logging.getLogger(__name__)

SAMPLE_SIZE = 10
COMPARED_FIELDS = (
    "content", "type", "importance", "confidence", "timestamp", "t_valid", "t_invalid",
    "tag_prefixes", "tag_keys", "archived", "summary", "relevance_score",
)  # fmt: skip
"""Payload fields that must match the graph (recall filters or shows them)."""


class SyncJob:
    def __init__(self, graph: GraphStore, vectors: VectorStore, queues: dict[Stage, Queue], settings: Settings) -> None:
        self.graph, self.vectors, self.queues = graph, vectors, queues
        self.queue = queues[Stage.EMBEDDING]
        self.excluded_types = settings.recall_excluded_types

    def run(self, *, dry_run: bool, page_size: int = PAGE_SIZE) -> dict[str, Any]:
        started = time.perf_counter()
        graph_count = missing = stale = 0
        missing_sample: list[str] = []
        for page in pages(
            self.graph.memories.iter_ids(
                stage=Stage.EMBEDDING, status=StageStatus.COMPLETED, excluded_types=self.excluded_types
            ),
            page_size,
        ):
            graph_count += len(page)
            memories = self.graph.memories.get_many(page)
            points = {p.id: p.payload for p in self.vectors.retrieve(page)}
            absent = [i for i in page if i not in points and i in memories]
            drifted = [i for i in page if i in points and i in memories and _drifted(memories[i], points[i])]
            missing, stale = missing + len(absent), stale + len(drifted)
            missing_sample += absent[: SAMPLE_SIZE - len(missing_sample)]
            if not dry_run:
                self.queue.put_many(self.graph.maintenance.set_stage_pending(Stage.EMBEDDING, absent))
                self.queue.put_many(drifted)
        vector_count = orphaned = 0
        orphan_sample: list[str] = []
        for page in pages(self.vectors.iter_ids(page_size), page_size):
            vector_count += len(page)
            gone = sorted(set(page) - self.graph.memories.existing_ids(page))
            orphaned += len(gone)
            orphan_sample += gone[: SAMPLE_SIZE - len(orphan_sample)]
            if gone and not dry_run:
                self.vectors.delete(gone)
        requeued = 0 if dry_run else self._requeue_pending()
        result = {
            "dry_run": dry_run,
            "memory_count": self.graph.memories.count(self.excluded_types),
            "graph_count": graph_count,
            "vector_count": vector_count,
            "missing_count": missing,
            "stale_payload_count": stale,
            "orphaned_count": orphaned,
            "requeued_pending": requeued,
            "missing_sample": missing_sample,
            "orphaned_sample": orphan_sample,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        log.info(
            "sync ran", extra={"event": "sync.ran", **{k: v for k, v in result.items() if not k.endswith("sample")}}
        )
        return result

    def _requeue_pending(self) -> int:
        requeued = 0
        for stage, queue in self.queues.items():
            for page in pages(self.graph.memories.iter_ids(stage=stage, status=StageStatus.PENDING)):
                requeued += queue.put_many(page)
        return requeued


def _drifted(memory: Memory, payload: dict[str, Any]) -> bool:
    expected = memory.payload()
    return any(payload.get(name) != expected.get(name) for name in COMPARED_FIELDS)
