"""Cypher for scheduled maintenance: decay scans, creative links, clusters, forgetting, run history."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from loci.model import Memory, RelationType, Stage, StageStatus
from loci.stores.graph.base import PAGE_SIZE, QueryGroup
from loci.timeutil import iso, utcnow


@dataclass(frozen=True)
class DecayRow:
    """What the relevance formula needs about one memory."""

    id: str
    type: str
    importance: float
    confidence: float
    timestamp: str
    last_accessed: str
    edges: int
    protected: bool
    archived: bool = False


class MaintenanceQueries(QueryGroup):
    """Queries of the consolidation jobs and the sync job."""

    def iter_decay_rows(
        self,
        *,
        min_importance: float | None,
        excluded_types: Sequence[str],
        include_archived: bool = False,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[list[DecayRow]]:
        """Pages of memories (archived ones only if asked) with their edge counts, paged by id."""
        after = ""
        while True:
            rows = self._query(
                "MATCH (m:Memory) WHERE m.id > $after AND NOT m.type IN $excluded "
                "AND ($archived OR coalesce(m.archived, false) = false) AND ($min IS NULL OR m.importance >= $min) "
                "WITH m ORDER BY m.id LIMIT $limit OPTIONAL MATCH (m)-[r]-() "
                "RETURN m.id, m.type, m.importance, m.confidence, m.timestamp, m.last_accessed, count(r), "
                "coalesce(m.protected, false), coalesce(m.archived, false) ORDER BY m.id",
                {
                    "after": after,
                    "excluded": list(excluded_types),
                    "min": min_importance,
                    "limit": page_size,
                    "archived": include_archived,
                },
                read_only=True,
            )
            if rows:
                yield [
                    DecayRow(
                        r[0],
                        r[1] or "Memory",
                        float(r[2] or 0.5),
                        float(r[3] or 0.5),
                        r[4] or "",
                        r[5] or "",
                        int(r[6]),
                        bool(r[7]),
                        bool(r[8]),
                    )
                    for r in rows
                ]
            if len(rows) < page_size:
                return
            after = rows[-1][0]

    def set_relevance(self, scores: Sequence[tuple[str, float]]) -> None:
        if scores:
            self._query(
                "UNWIND $rows AS row MATCH (m:Memory {id: row.id}) SET m.relevance_score = row.score",
                {"rows": [{"id": memory_id, "score": score} for memory_id, score in scores]},
            )

    def sample_memories(self, count: int, min_relevance: float, excluded_types: Sequence[str]) -> list[Memory]:
        """A random sample of live memories whose relevance (if computed yet) is above `min_relevance`."""
        rows = self._query(
            "MATCH (m:Memory) WHERE NOT m.type IN $excluded AND coalesce(m.archived, false) = false "
            "AND coalesce(m.relevance_score, 1.0) > $min AND m.embedding_status = $completed "
            "WITH m, rand() AS r ORDER BY r LIMIT $count RETURN m",
            {
                "excluded": list(excluded_types),
                "min": min_relevance,
                "count": count,
                "completed": StageStatus.COMPLETED.value,
            },
            read_only=True,
        )
        return [Memory.from_node(row[0].properties) for row in rows]

    def linked_pairs(self, ids: Sequence[str]) -> set[frozenset[str]]:
        """Pairs among `ids` already joined by any edge."""
        rows = self._query(
            "UNWIND $ids AS id MATCH (a:Memory {id: id})-[]-(b:Memory) WHERE b.id IN $ids RETURN DISTINCT a.id, b.id",
            {"ids": list(ids)},
            read_only=True,
        )
        return {frozenset(row) for row in rows}

    def add_links(self, relation: RelationType, links: Sequence[dict[str, Any]]) -> None:
        """MERGE edges of one type from rows {src, dst, props}."""
        if links:
            self._query(
                "UNWIND $rows AS row MATCH (a:Memory {id: row.src}), (b:Memory {id: row.dst}) "
                f"MERGE (a)-[r:{relation.value}]->(b) SET r += row.props, r.updated_at = $now",
                {"rows": list(links), "now": iso(utcnow())},
            )

    def replace_meta_memories(self, clusters: Sequence[dict[str, Any]]) -> None:
        """Swap the cluster summaries for new ones: rows {node: properties, members: [ids]}."""
        self._query("MATCH (c:MetaMemory) DETACH DELETE c")
        if clusters:
            self._query(
                "UNWIND $rows AS row CREATE (c:Memory:MetaMemory) SET c = row.node "
                "WITH c, row UNWIND row.members AS member MATCH (m:Memory {id: member}) "
                "CREATE (c)-[:SUMMARIZES]->(m)",
                {"rows": list(clusters)},
            )

    def archive(self, ids: Sequence[str], when: str) -> None:
        if ids:
            self._query(
                "UNWIND $ids AS id MATCH (m:Memory {id: id}) SET m.archived = true, m.archived_at = $when",
                {"ids": list(ids), "when": when},
            )

    def set_stage_pending(self, stage: Stage, ids: Sequence[str]) -> list[str]:
        """Mark a stage to be done again for these memories; returns the ids that exist."""
        if not ids:
            return []
        prefix = stage.value  # from the Stage enum, never from input
        rows = self._query(
            f"UNWIND $ids AS id MATCH (m:Memory {{id: id}}) SET m.{prefix}_status = $pending, "
            f"m.{prefix}_attempts = 0, m.{prefix}_error = null RETURN m.id",
            {"ids": list(ids), "pending": StageStatus.PENDING.value},
        )
        return [row[0] for row in rows]

    def newest_ids(self, limit: int, excluded_types: Sequence[str]) -> list[str]:
        rows = self._query(
            "MATCH (m:Memory) WHERE NOT m.type IN $excluded RETURN m.id ORDER BY m.timestamp_epoch DESC LIMIT $limit",
            {"excluded": list(excluded_types), "limit": limit},
            read_only=True,
        )
        return [row[0] for row in rows]

    # --- run history
    def record_run(self, run: dict[str, Any], keep: int) -> None:
        """Store a consolidation run and prune that task's history to its newest `keep` runs."""
        self._query(
            "CREATE (r:ConsolidationRun) SET r = $run",
            {"run": {**run, "result": json.dumps(run.get("result", {}), sort_keys=True)}},
        )
        self._query(
            "MATCH (r:ConsolidationRun {task: $task}) WITH r ORDER BY r.started_at DESC SKIP $keep DETACH DELETE r",
            {"task": run["task"], "keep": keep},
        )

    def runs(self, limit: int) -> list[dict[str, Any]]:
        rows = self._query(
            "MATCH (r:ConsolidationRun) RETURN r ORDER BY r.started_at DESC LIMIT $limit",
            {"limit": limit},
            read_only=True,
        )
        return [_run(node) for (node,) in rows]

    def last_run(self, task: str) -> dict[str, Any] | None:
        """The newest recorded run of one task."""
        rows = self._query(
            "MATCH (r:ConsolidationRun {task: $task}) RETURN r ORDER BY r.started_at DESC LIMIT 1",
            {"task": task},
            read_only=True,
        )
        return _run(rows[0][0]) if rows else None

    def last_runs(self) -> dict[str, str]:
        """When each task last completed a real (not dry) run."""
        rows = self._query(
            "MATCH (r:ConsolidationRun) WHERE r.success = true RETURN r.task, max(r.completed_at)", read_only=True
        )
        return {task: completed for task, completed in rows}


def _run(node: Any) -> dict[str, Any]:
    props = dict(node.properties)
    props["result"] = json.loads(props.get("result") or "{}")
    return props
