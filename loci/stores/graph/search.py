"""Cypher for finding memories: full-text matches and filtered listings."""

from __future__ import annotations

from typing import Any

from loci.memory import Memory, epoch
from loci.stores.filters import MemoryFilter, TagMode
from loci.stores.graph.base import GraphBase


class SearchQueries(GraphBase):
    """Full-text search and filtered listings."""

    def fulltext_search(self, query: str, where: MemoryFilter, limit: int) -> dict[str, float]:
        """Ids (with scores, best first) of memories whose content matches a full-text query (RediSearch syntax)."""
        clause, params = filter_clause(where)
        rows = self._query(
            "CALL db.idx.fulltext.queryNodes('Memory', $q) YIELD node AS m, score "
            f"WITH m, score WHERE {clause} RETURN m.id, score ORDER BY score DESC LIMIT $limit",
            {**params, "q": query, "limit": limit},
            read_only=True,
        )
        return {memory_id: float(score) for memory_id, score in rows}

    def list_memories(self, where: MemoryFilter, order: str, limit: int) -> list[Memory]:
        """Memories passing `where`, in one of the fixed orders of `ORDERS`."""
        clause, params = filter_clause(where)
        rows = self._query(
            f"MATCH (m:Memory) WHERE {clause} RETURN m ORDER BY {ORDERS[order]} LIMIT $limit",
            {**params, "limit": limit},
            read_only=True,
        )
        return [Memory.from_node(row[0].properties) for row in rows]


ORDERS = {
    "importance": "m.importance DESC, m.timestamp_epoch DESC",
    "time_desc": "m.timestamp_epoch DESC",
    "time_asc": "m.timestamp_epoch ASC",
    "updated_desc": "m.updated_at DESC",
    "updated_asc": "m.updated_at ASC",
}


def filter_clause(where: MemoryFilter, var: str = "m") -> tuple[str, dict[str, Any]]:
    """A Cypher condition (and its parameters) for a MemoryFilter."""
    parts = ["true"]
    params: dict[str, Any] = {}
    if not where.include_archived:
        parts.append(f"coalesce({var}.archived, false) = false")
    if where.excluded_types:
        parts.append(f"NOT {var}.type IN $f_excluded_types")
        params["f_excluded_types"] = list(where.excluded_types)
    if where.tags:
        field = f"{var}.{where.tag_field}"
        if where.tag_mode is TagMode.ALL:
            parts.append(f"ALL(t IN $f_tags WHERE t IN {field})")
        else:
            parts.append(f"ANY(t IN {field} WHERE t IN $f_tags)")
        params["f_tags"] = list(where.tags)
    if where.exclude_tags:
        parts.append(f"NONE(t IN coalesce({var}.tag_prefixes, []) WHERE t IN $f_exclude)")
        params["f_exclude"] = list(where.exclude_tags)
    if where.start:
        parts.append(f"{var}.timestamp_epoch >= $f_start")
        params["f_start"] = epoch(where.start)
    if where.end:
        parts.append(f"{var}.timestamp_epoch <= $f_end")
        params["f_end"] = epoch(where.end)
    return " AND ".join(parts), params
