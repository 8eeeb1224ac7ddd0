"""Cypher for what enrichment adds to the graph: temporal links and recurring-type patterns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from loci.stores.graph.base import QueryGroup
from loci.timeutil import iso, utcnow

FIRST_SPAN_SECONDS = 0.01
"""The narrowest time span searched for PRECEDED_BY neighbours (see `link_preceding`)."""

PATTERN_MIN_CONFIDENCE = 0.5
"""Only memories at least this sure of their type count towards a pattern."""


class EnrichmentQueries(QueryGroup):
    """PRECEDED_BY links and Pattern nodes."""

    def link_preceding(
        self, rows: Sequence[tuple[str, float, str]], window: float, limit: int, excluded_types: Sequence[str] = ()
    ) -> dict[str, int]:
        """PRECEDED_BY links in memory time for (id, epoch, stored_at) rows, whatever order they arrive in.

        Each memory links to the `limit` latest memories before it within `window` seconds,
        and the `limit` earliest memories after it within the window link to it (then keep
        only their own `limit` nearest links), so history imported newest-first links the
        same as history imported in order. Equal times are ordered by `stored_at`, then id.
        FalkorDB cannot take the k nearest from its range index without reading every match,
        so the span grows tenfold from 10 ms until each memory has its neighbours (or the
        window is covered): a burst of thousands of memories a second stays as cheap as
        sparse history.
        Returns the links from each row's memory.
        """
        if not rows or limit <= 0:
            return {}
        earlier: dict[str, int] = {}
        later: set[str] = set()
        todo = {True: list(rows), False: list(rows)}  # before / after: rows still short of neighbours
        for span in _spans(window):
            for before, pending in todo.items():
                if not pending:
                    continue
                found = self._link_direction(pending, span, limit, excluded_types, before=before)
                if before:
                    earlier.update({memory_id: count for memory_id, (count, _) in found.items()})
                else:
                    later.update(b for _, linked in found.values() for b in linked)
                todo[before] = [row for row in pending if found.get(row[0], (0, []))[0] < limit]
            if not todo[True] and not todo[False]:
                break
        self._prune_preceding(sorted(later), limit)
        return earlier

    def _link_direction(
        self,
        rows: Sequence[tuple[str, float, str]],
        span: float,
        limit: int,
        excluded_types: Sequence[str],
        *,
        before: bool,
    ) -> dict[str, tuple[int, list[str]]]:
        """Link each row's memory to its nearest `limit` neighbours on one side within `span`
        seconds: (count, linked ids) per row."""
        if before:  # m -[:PRECEDED_BY]-> earlier o
            condition = (
                "o.timestamp_epoch >= row.ts - $span AND o.timestamp_epoch <= row.ts "
                "AND (o.timestamp_epoch < row.ts OR o.stored_at < row.stored "
                "OR (o.stored_at = row.stored AND o.id < row.id))"
            )
            order, merge = "o.timestamp_epoch DESC, o.stored_at DESC, o.id DESC", "MERGE (m)-[r:PRECEDED_BY]->(o)"
        else:  # later o -[:PRECEDED_BY]-> m
            condition = (
                "o.timestamp_epoch >= row.ts AND o.timestamp_epoch <= row.ts + $span "
                "AND (o.timestamp_epoch > row.ts OR o.stored_at > row.stored "
                "OR (o.stored_at = row.stored AND o.id > row.id))"
            )
            order, merge = "o.timestamp_epoch ASC, o.stored_at ASC, o.id ASC", "MERGE (o)-[r:PRECEDED_BY]->(m)"
        result = self._query(
            "UNWIND $rows AS row MATCH (m:Memory {id: row.id}) "
            f"CALL {{ WITH row MATCH (o:Memory) WHERE {condition} AND o.id <> row.id AND NOT o.type IN $excluded "
            f"RETURN o ORDER BY {order} LIMIT $limit }} "
            f"{merge} SET r.updated_at = $now RETURN m.id, count(o), collect(o.id)",
            {
                "rows": [{"id": i, "ts": ts, "stored": stored} for i, ts, stored in rows],
                "span": span,
                "limit": limit,
                "excluded": list(excluded_types),
                "now": iso(utcnow()),
            },
        )
        return {memory_id: (int(count), list(linked)) for memory_id, count, linked in result}

    def _prune_preceding(self, ids: Sequence[str], limit: int) -> None:
        """Keep only each memory's `limit` nearest PRECEDED_BY links."""
        if ids:
            self._query(
                "UNWIND $ids AS id MATCH (b:Memory {id: id})-[r:PRECEDED_BY]->(o:Memory) "
                "WITH b, r ORDER BY o.timestamp_epoch DESC, o.stored_at DESC, o.id DESC "
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
        """Memories of this type, sure of it, stored before `stored_at` (ingest order).

        A string comparison, correct here because `stored_at` has no range index (see `Memory.epoch`).
        """
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


def _spans(window: float) -> list[float]:
    """10 ms, 100 ms, 1 s, ... up to the window itself."""
    spans, span = [], FIRST_SPAN_SECONDS
    while span < window:
        spans.append(span)
        span *= 10
    return [*spans, window]
