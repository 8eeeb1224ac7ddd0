"""Cypher for the pipeline state kept on memory nodes (embedding and enrichment progress)."""

from __future__ import annotations

from collections.abc import Sequence

from loci.memory import EmbeddingStatus
from loci.stores.graph.base import GraphBase


class PipelineQueries(GraphBase):
    """Pipeline progress on memory nodes."""

    def mark_embedded(self, rows: Sequence[tuple[str, str]]) -> list[str]:
        """Mark (id, content hash) rows embedded, unless the content changed meanwhile.

        Returns the ids marked. An id missing from the answer was deleted or edited while
        its vector was computed; the edit re-queued it, and that job finishes it.
        """
        if not rows:
            return []
        result = self._query(
            "UNWIND $rows AS row MATCH (m:Memory {id: row.id}) WHERE m.content_hash = row.hash "
            "SET m.embedding_status = $completed, m.embedded_hash = row.hash, "
            "m.embedding_error = null, m.embedding_attempts = 0 RETURN m.id",
            {
                "rows": [{"id": memory_id, "hash": digest} for memory_id, digest in rows],
                "completed": EmbeddingStatus.COMPLETED.value,
            },
        )
        return [row[0] for row in result]

    def record_embedding_error(self, ids: Sequence[str], error: str, attempts: dict[str, int], *, final: bool) -> None:
        """Note a failed attempt on each node; `final` marks them failed for good."""
        if not ids:
            return
        status = EmbeddingStatus.FAILED if final else EmbeddingStatus.PENDING
        self._query(
            "UNWIND $rows AS row MATCH (m:Memory {id: row.id}) "
            "SET m.embedding_status = $status, m.embedding_error = $error, m.embedding_attempts = row.attempts",
            {
                "rows": [{"id": memory_id, "attempts": attempts.get(memory_id, 1)} for memory_id in ids],
                "status": status.value,
                "error": error[:500],
            },
        )
