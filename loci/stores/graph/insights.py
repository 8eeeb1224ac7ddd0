"""Cypher for read-only overviews: start-up lessons and rules, and analytics over all memories."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loci.model import Memory, RelationType
from loci.stores.graph.base import QueryGroup


class InsightQueries(QueryGroup):
    """Aggregates; each answers in a bounded number of rows however large the graph is."""

    def memories_tagged(self, keys: Sequence[str], limit: int, excluded_types: Sequence[str]) -> list[Memory]:
        """Live memories having one of these tags (case-insensitive), most important first."""
        rows = self._query(
            "MATCH (m:Memory) WHERE ANY(t IN m.tag_keys WHERE t IN $keys) AND NOT m.type IN $excluded "
            "AND coalesce(m.archived, false) = false "
            "RETURN m ORDER BY m.importance DESC, m.timestamp_epoch DESC LIMIT $limit",
            {"keys": list(keys), "limit": limit, "excluded": list(excluded_types)},
            read_only=True,
        )
        return [Memory.from_node(row[0].properties) for row in rows]

    def type_stats(self, excluded_types: Sequence[str]) -> dict[str, dict[str, Any]]:
        rows = self._query(
            "MATCH (m:Memory) WHERE NOT m.type IN $excluded RETURN m.type, count(m), avg(m.confidence)",
            {"excluded": list(excluded_types)},
            read_only=True,
        )
        return {kind: {"count": int(n), "average_confidence": round(float(c or 0), 3)} for kind, n, c in rows}

    def confidence_distribution(self, excluded_types: Sequence[str]) -> dict[str, int]:
        rows = self._query(
            "MATCH (m:Memory) WHERE NOT m.type IN $excluded RETURN "
            "sum(CASE WHEN m.confidence < 0.4 THEN 1 ELSE 0 END), "
            "sum(CASE WHEN m.confidence >= 0.4 AND m.confidence < 0.7 THEN 1 ELSE 0 END), "
            "sum(CASE WHEN m.confidence >= 0.7 THEN 1 ELSE 0 END)",
            {"excluded": list(excluded_types)},
            read_only=True,
        )
        low, medium, high = (int(v or 0) for v in rows[0])
        return {"low": low, "medium": medium, "high": high}

    def hour_histogram(self, excluded_types: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Memories per hour of day (UTC) with their average importance."""
        rows = self._query(
            "MATCH (m:Memory) WHERE NOT m.type IN $excluded AND m.timestamp IS NOT NULL "
            "WITH substring(m.timestamp, 11, 2) AS hour, m RETURN hour, count(m), avg(m.importance) ORDER BY hour",
            {"excluded": list(excluded_types)},
            read_only=True,
        )
        return {
            f"hour_{hour}": {"count": int(n), "avg_importance": round(float(i or 0), 3)} for hour, n, i in rows if hour
        }

    def entity_frequency(self, limit: int) -> dict[str, int]:
        """The most frequent entity tags."""
        rows = self._query(
            "MATCH (m:Memory) UNWIND m.tag_keys AS t WITH t WHERE t STARTS WITH 'entity:' "
            "RETURN t, count(*) AS n ORDER BY n DESC, t LIMIT $limit",
            {"limit": limit},
            read_only=True,
        )
        return {tag: int(n) for tag, n in rows}

    def strong_patterns(self, min_confidence: float, limit: int) -> list[dict[str, Any]]:
        rows = self._query(
            "MATCH (p:Pattern) WHERE p.confidence > $min "
            "RETURN p.type, p.content, p.confidence, p.observations, p.key_terms "
            "ORDER BY p.confidence DESC LIMIT $limit",
            {"min": min_confidence, "limit": limit},
            read_only=True,
        )
        return [
            {"type": t, "description": c, "confidence": conf, "observations": obs, "key_terms": terms}
            for t, c, conf, obs, terms in rows
        ]

    def preferences(self, limit: int) -> list[dict[str, Any]]:
        rows = self._query(
            f"MATCH (a:Memory)-[r:{RelationType.PREFERS_OVER.value}]->(b:Memory) "
            "RETURN a.content, b.content, r.context, r.strength ORDER BY r.strength DESC LIMIT $limit",
            {"limit": limit},
            read_only=True,
        )
        return [{"prefers": a, "over": b, "context": c, "strength": s} for a, b, c, s in rows]
