"""Cypher for the pipeline state kept on memory nodes (embedding and enrichment progress)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loci.model import Stage, StageStatus
from loci.stores.graph.base import QueryGroup
from loci.timeutil import iso, utcnow


class PipelineQueries(QueryGroup):
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
                "completed": StageStatus.COMPLETED.value,
            },
        )
        return [row[0] for row in result]

    def stage_attempts(self, stage: Stage, ids: Sequence[str]) -> dict[str, int]:
        """Failed attempts of a stage so far, per memory (restarts keep counting)."""
        rows = self._query(
            f"UNWIND $ids AS id MATCH (m:Memory {{id: id}}) RETURN m.id, coalesce(m.{stage.value}_attempts, 0)",
            {"ids": list(ids)},
            read_only=True,
        )
        return {memory_id: int(attempts) for memory_id, attempts in rows}

    def record_stage_error(
        self, stage: Stage, ids: Sequence[str], error: str, attempts: dict[str, int], *, final: bool
    ) -> None:
        """Note a failed attempt of a stage on each node; `final` marks them failed for good."""
        if not ids:
            return
        status = StageStatus.FAILED if final else StageStatus.PENDING
        prefix = stage.value  # from the Stage enum, never from input
        self._query(
            "UNWIND $rows AS row MATCH (m:Memory {id: row.id}) "
            f"SET m.{prefix}_status = $status, m.{prefix}_error = $error, m.{prefix}_attempts = row.attempts",
            {
                "rows": [{"id": memory_id, "attempts": attempts.get(memory_id, 1)} for memory_id in ids],
                "status": status.value,
                "error": error[:500],
            },
        )

    def replace_similar(self, ids: Sequence[str], pairs: Sequence[tuple[str, str, float]]) -> None:
        """Replace the SIMILAR_TO links of these memories with `pairs` (a, b, score), linked both ways."""
        if not ids:
            return
        self._query("UNWIND $ids AS id MATCH (:Memory {id: id})-[r:SIMILAR_TO]-(:Memory) DELETE r", {"ids": list(ids)})
        if pairs:
            self._query(
                "UNWIND $pairs AS p MATCH (a:Memory {id: p.a}), (b:Memory {id: p.b}) "
                "MERGE (a)-[r1:SIMILAR_TO]->(b) SET r1.score = p.score, r1.updated_at = $now "
                "MERGE (b)-[r2:SIMILAR_TO]->(a) SET r2.score = p.score, r2.updated_at = $now",
                {"pairs": [{"a": a, "b": b, "score": score} for a, b, score in pairs], "now": iso(utcnow())},
            )

    def apply_if_unchanged(self, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> list[str]:
        """Write (id, updated_at, properties) rows, each only if the memory was not edited since it was read.

        Returns the ids written; the others were edited or deleted meanwhile (every edit bumps
        `updated_at`), and the caller reads them again.
        """
        if not rows:
            return []
        result = self._query(
            "UNWIND $rows AS row MATCH (m:Memory {id: row.id}) WHERE m.updated_at = row.seen "
            "SET m += row.props RETURN m.id",
            {"rows": [{"id": memory_id, "seen": seen, "props": props} for memory_id, seen, props in rows]},
        )
        return [row[0] for row in result]

    def stage_states(self, ids: Sequence[str]) -> dict[str, dict[Stage, tuple[str, str | None]]]:
        """Each existing memory's status (a StageStatus value) and last error in every stage."""
        rows = self._query(
            "UNWIND $ids AS id MATCH (m:Memory {id: id}) "
            "RETURN m.id, m.embedding_status, m.embedding_error, m.enrichment_status, m.enrichment_error",
            {"ids": list(ids)},
            read_only=True,
        )
        return {
            memory_id: {
                Stage.EMBEDDING: (embedding or StageStatus.PENDING.value, embedding_error),
                Stage.ENRICHMENT: (enrichment or StageStatus.PENDING.value, enrichment_error),
            }
            for memory_id, embedding, embedding_error, enrichment, enrichment_error in rows
        }
