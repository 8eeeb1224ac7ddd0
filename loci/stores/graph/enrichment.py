"""Cypher for what enrichment adds to the graph: temporal links and recurring-type patterns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from loci.stores.graph.base import GraphBase
from loci.timeutil import iso, utcnow

PATTERN_MIN_CONFIDENCE = 0.5
"""Only memories at least this sure of their type count towards a pattern."""


class EnrichmentQueries(GraphBase):
    """PRECEDED_BY links and Pattern nodes."""

    def link_preceding(
        self, rows: Sequence[tuple[str, float, str]], window: float, limit: int, excluded_types: Sequence[str] = ()
    ) -> dict[str, int]:
        """PRECEDED_BY links in memory time for (id, epoch, stored_at) rows, whatever order they arrive in.

        Each memory links to the `limit` latest memories before it within `window` seconds,
        and the `limit` earliest memories after it within the window link to it (then keep
        only their own `limit` nearest links), so history imported newest-first links the
        same as history imported in order. Equal times are ordered by `stored_at`.
        Returns the links from each row's memory.
        """
        if not rows or limit <= 0:
            return {}
        params = {
            "rows": [
                {"id": i, "ts": ts, "stored": stored, "since": ts - window, "until": ts + window}
                for i, ts, stored in rows
            ],
            "limit": limit,
            "excluded": list(excluded_types),
            "now": iso(utcnow()),
        }
        earlier = self._query(
            "UNWIND $rows AS row MATCH (m:Memory {id: row.id}) "
            "CALL { WITH row MATCH (o:Memory) "
            "WHERE o.timestamp_epoch >= row.since AND o.timestamp_epoch <= row.ts AND o.id <> row.id "
            "AND (o.timestamp_epoch < row.ts OR o.stored_at < row.stored) AND NOT o.type IN $excluded "
            "RETURN o ORDER BY o.timestamp_epoch DESC, o.stored_at DESC LIMIT $limit } "
            "MERGE (m)-[r:PRECEDED_BY]->(o) SET r.updated_at = $now RETURN m.id, count(o)",
            params,
        )
        later = self._query(
            "UNWIND $rows AS row MATCH (m:Memory {id: row.id}) "
            "CALL { WITH row MATCH (b:Memory) "
            "WHERE b.timestamp_epoch >= row.ts AND b.timestamp_epoch <= row.until AND b.id <> row.id "
            "AND (b.timestamp_epoch > row.ts OR b.stored_at > row.stored) AND NOT b.type IN $excluded "
            "RETURN b ORDER BY b.timestamp_epoch ASC, b.stored_at ASC LIMIT $limit } "
            "MERGE (b)-[r:PRECEDED_BY]->(m) SET r.updated_at = $now RETURN DISTINCT b.id",
            params,
        )
        self._prune_preceding([row[0] for row in later], limit)
        return {memory_id: int(count) for memory_id, count in earlier}

    def _prune_preceding(self, ids: Sequence[str], limit: int) -> None:
        """Keep only each memory's `limit` nearest PRECEDED_BY links."""
        if ids:
            self._query(
                "UNWIND $ids AS id MATCH (b:Memory {id: id})-[r:PRECEDED_BY]->(o:Memory) "
                "WITH b, r ORDER BY o.timestamp_epoch DESC, o.stored_at DESC "
                "WITH b, collect(r) AS links WHERE size(links) > $limit "
                "UNWIND links[$limit..] AS extra DELETE extra",
                {"ids": list(ids), "limit": limit},
            )

    def patterns(self) -> dict[str, dict[str, Any]]:
        """Pattern nodes by memory type, with their term counts decoded."""
        rows = self._query("MATCH (p:Pattern) RETURN p", read_only=True)
        found = {}
        for (node,) in rows:
            props = dict(node.properties)
            props["term_counts"] = json.loads(props.get("term_counts") or "{}")
            found[props["type"]] = props
        return found

    def count_typed_before(self, kind: str, stored_at: str, memory_id: str) -> int:
        """Memories of this type, sure of it, stored before `stored_at` (ingest order)."""
        rows = self._query(
            "MATCH (o:Memory) WHERE o.type = $type AND o.confidence > $min AND o.stored_at < $stored_at "
            "AND o.id <> $id RETURN count(o)",
            {"type": kind, "min": PATTERN_MIN_CONFIDENCE, "stored_at": stored_at, "id": memory_id},
            read_only=True,
        )
        return int(rows[0][0])

    def exemplifying(self, ids: Sequence[str]) -> set[str]:
        """Which of these memories already exemplify a pattern."""
        rows = self._query(
            "UNWIND $ids AS id MATCH (m:Memory {id: id})-[:EXEMPLIFIES]->(:Pattern) RETURN DISTINCT m.id",
            {"ids": list(ids)},
            read_only=True,
        )
        return {row[0] for row in rows}

    def save_patterns(self, patterns: Sequence[dict[str, Any]], links: Sequence[tuple[str, str, float]]) -> None:
        """Write Pattern nodes (by id) and (memory id, pattern id, confidence) EXEMPLIFIES edges."""
        now = iso(utcnow())
        if patterns:
            rows = [{**p, "term_counts": json.dumps(p["term_counts"], sort_keys=True)} for p in patterns]
            self._query(
                "UNWIND $rows AS row MERGE (p:Pattern {id: row.id}) "
                "ON CREATE SET p.created_at = $now SET p += row, p.updated_at = $now",
                {"rows": rows, "now": now},
            )
        if links:
            self._query(
                "UNWIND $links AS l MATCH (m:Memory {id: l.memory}), (p:Pattern {id: l.pattern}) "
                "MERGE (m)-[e:EXEMPLIFIES]->(p) SET e.confidence = l.confidence, e.updated_at = $now",
                {"links": [{"memory": m, "pattern": p, "confidence": c} for m, p, c in links], "now": now},
            )
