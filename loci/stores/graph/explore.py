"""Cypher for looking at the graph as a whole: the viewer's snapshot, a memory's neighbourhood, counts.

Nothing here returns an unbounded result. A snapshot ranks the memories that pass its
filter while paging through them by id (only id, importance and time are read), then
reads the chosen nodes and their edges in pages. A neighbourhood is walked one hop at a
time, each hop capped. Counts are aggregates: one row per type at most.

Only edges between memories are read or counted (not a memory's link to its Pattern).
Legacy edge labels (EXPLAINS, SHARES_THEME, PARALLEL_CONTEXT) are reported as DISCOVERED
with their old name as `kind`, as AutoMem reads them.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loci.model import LEGACY_RELATION_NAMES, Memory
from loci.stores.graph.base import PAGE_SIZE, QueryGroup, pages

NODE_FIELDS = ("content", "type", "importance", "confidence", "tags", "timestamp", "updated_at", "metadata")
"""The node properties a snapshot shows (read as columns: faster than whole nodes)."""

EDGE_PAGE_SIZE = 500
"""Source memories per query when reading the edges among a snapshot's nodes."""

HOP_ROW_LIMIT = 1000
"""Most edges one hop of a neighbourhood walk reads."""

RANK_PAGE_SIZE = 5000
"""Rows per page while ranking a snapshot (three columns each): 20,000 memories ranked in 1.4 s
against 2.7 s with pages of 1,000 (each page is sorted by id on the server)."""


@dataclass(frozen=True)
class SnapshotFilter:
    """Which memories a snapshot may show; every condition is optional."""

    min_importance: float | None = None
    """Memories without an importance fail this condition when it is given."""
    types: tuple[str, ...] = ()
    since_epoch: float | None = None
    """Memories whose `timestamp` is at or after this moment (seconds since 1970)."""

    def clause(self) -> tuple[str, dict[str, Any]]:
        """The conditions as Cypher (each starting with AND) and their parameters."""
        parts: list[str] = []
        params: dict[str, Any] = {}
        if self.min_importance is not None:
            parts.append(" AND m.importance >= $min_importance")
            params["min_importance"] = self.min_importance
        if self.types:
            parts.append(" AND m.type IN $types")
            params["types"] = list(self.types)
        if self.since_epoch is not None:
            parts.append(" AND m.timestamp_epoch >= $since")
            params["since"] = self.since_epoch
        return "".join(parts), params


@dataclass(frozen=True)
class Ranking:
    """The memories a snapshot shows, best first, out of how many passed its filter."""

    ids: list[str]
    matching: int


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    type: str
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.source}-{self.type}-{self.target}"


@dataclass(frozen=True)
class Neighbor:
    memory: Memory
    hops: int


@dataclass(frozen=True)
class Neighborhood:
    """Memories within some hops of a centre (nearest first) and the edges that reached them."""

    neighbors: list[Neighbor]
    edges: list[Edge]


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _edge(source: str, kind: str, props: dict[str, Any] | None, target: str) -> Edge:
    properties = dict(props or {})
    if kind in LEGACY_RELATION_NAMES:
        properties.setdefault("kind", kind.lower())
        kind = LEGACY_RELATION_NAMES[kind].value
    return Edge(source, target, kind, properties)


class ExploreQueries(QueryGroup):
    """Read-only views of the whole graph, for the viewer API (loci/api/graph.py)."""

    def ranked(self, where: SnapshotFilter, limit: int, page_size: int = RANK_PAGE_SIZE) -> Ranking:
        """The `limit` memories passing `where` with the highest importance (then the newest, then the
        lowest id), found by paging through every match by id; and how many matched."""
        clause, params = where.clause()
        best: list[tuple[float, float, int, str]] = []  # a min-heap: best[0] is the weakest kept
        matching, after = 0, ""
        while True:
            rows = self._query(
                f"MATCH (m:Memory) WHERE m.id > $after{clause} "
                "RETURN m.id, m.importance, m.timestamp_epoch ORDER BY m.id LIMIT $page",
                {**params, "after": after, "page": page_size},
                read_only=True,
            )
            for memory_id, importance, stamp in rows:
                # a later id ranks below an earlier one with the same importance and time
                key = (_number(importance, 0.5), _number(stamp, float("-inf")), -matching, memory_id)
                matching += 1
                if len(best) < limit:
                    heapq.heappush(best, key)
                elif best and key > best[0]:
                    heapq.heapreplace(best, key)
            if len(rows) < page_size:
                break
            after = rows[-1][0]
        return Ranking([key[3] for key in sorted(best, reverse=True)], matching)

    def memories(self, ids: Sequence[str], page_size: int = PAGE_SIZE) -> list[Memory]:
        """These memories (the snapshot's fields only), in the order given; missing ones are left out."""
        found: dict[str, Memory] = {}
        columns = ", ".join(f"m.{name}" for name in NODE_FIELDS)
        for page in pages(ids, page_size):
            rows = self._query(
                f"UNWIND $ids AS id MATCH (m:Memory {{id: id}}) RETURN m.id, {columns}", {"ids": page}, read_only=True
            )
            for row in rows:
                found[row[0]] = Memory.from_node(dict(zip(("id", *NODE_FIELDS), row, strict=True)))
        return [found[memory_id] for memory_id in ids if memory_id in found]

    def edges_among(self, ids: Sequence[str], page_size: int = EDGE_PAGE_SIZE) -> list[Edge]:
        """Every edge whose both ends are among `ids`, read a page of source memories at a time."""
        wanted = set(ids)
        edges: list[Edge] = []
        for page in pages(ids, page_size):
            rows = self._query(
                "UNWIND $ids AS id MATCH (a:Memory {id: id})-[r]->(b:Memory) "
                "RETURN a.id, type(r), properties(r), b.id ORDER BY a.id, type(r), b.id",
                {"ids": page},
                read_only=True,
            )
            edges.extend(_edge(a, kind, props, b) for a, kind, props, b in rows if b in wanted)
        return edges

    def neighborhood(self, memory_id: str, depth: int, limit: int) -> Neighborhood:
        """Up to `limit` memories within `depth` hops of this one over any edge, either direction,
        found hop by hop (the most important first within a hop); the edges that reached them."""
        hops_of = {memory_id: 0}
        edges: dict[str, Edge] = {}
        frontier = [memory_id]
        for hop in range(1, depth + 1):
            if not frontier or len(hops_of) > limit:
                break
            rows = self._query(
                "UNWIND $ids AS id MATCH (a:Memory {id: id})-[r]-(b:Memory) WHERE b.id <> id "
                "RETURN b.id, startNode(r).id, endNode(r).id, type(r), properties(r) "
                "ORDER BY coalesce(b.importance, 0.5) DESC, b.id, type(r), startNode(r).id LIMIT $rows",
                {"ids": frontier, "rows": HOP_ROW_LIMIT},
                read_only=True,
            )
            frontier = []
            for other, source, target, kind, props in rows:
                if other not in hops_of:
                    if len(hops_of) > limit:
                        continue
                    hops_of[other] = hop
                    frontier.append(other)
                edge = _edge(source, kind, props, target)
                edges.setdefault(edge.id, edge)
        reached = [other for other in hops_of if other != memory_id]
        neighbors = [Neighbor(m, hops_of[m.id]) for m in self.memories(reached)]
        return Neighborhood(neighbors, list(edges.values()))

    def totals(self) -> tuple[int, int]:
        """How many memories, and how many edges between memories."""
        nodes = self._query("MATCH (m:Memory) RETURN count(m)", read_only=True)
        edges = self._query("MATCH (:Memory)-[r]->(:Memory) RETURN count(r)", read_only=True)
        return int(nodes[0][0]), int(edges[0][0])

    def count_by_type(self) -> dict[str, int]:
        """Memories per type, most common first."""
        rows = self._query(
            "MATCH (m:Memory) WHERE m.type IS NOT NULL RETURN m.type, count(m) AS n ORDER BY n DESC, m.type",
            read_only=True,
        )
        return {kind: int(n) for kind, n in rows}

    def count_by_relation(self) -> dict[str, int]:
        """Edges between memories per type (legacy labels counted as DISCOVERED), most common first."""
        rows = self._query("MATCH (:Memory)-[r]->(:Memory) RETURN type(r), count(r)", read_only=True)
        counts: dict[str, int] = {}
        for kind, n in rows:
            name = _edge("", kind, None, "").type
            counts[name] = counts.get(name, 0) + int(n)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def importance_bands(self, high: float, low: float) -> dict[str, int]:
        """Memories with importance >= `high`, between, and below `low` (none counted without one)."""
        rows = self._query(
            "MATCH (m:Memory) RETURN "
            "sum(CASE WHEN m.importance >= $high THEN 1 ELSE 0 END), "
            "sum(CASE WHEN m.importance >= $low AND m.importance < $high THEN 1 ELSE 0 END), "
            "sum(CASE WHEN m.importance < $low THEN 1 ELSE 0 END)",
            {"high": high, "low": low},
            read_only=True,
        )
        above, between, below = (int(v or 0) for v in rows[0])
        return {"high": above, "medium": between, "low": below}

    def per_day(self, since_epoch: float) -> list[tuple[str, int]]:
        """Memories per UTC day (of their `timestamp`) from this moment on, newest day first."""
        rows = self._query(
            "MATCH (m:Memory) WHERE m.timestamp_epoch >= $since "
            "RETURN substring(m.timestamp, 0, 10) AS day, count(m) ORDER BY day DESC",
            {"since": since_epoch},
            read_only=True,
        )
        return [(day, int(n)) for day, n in rows if day]
