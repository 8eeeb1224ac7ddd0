"""GraphStore: every Cypher query Loci runs, each behind a named method.

FalkorDB is the record. Memories are `Memory` nodes (see `loci.memory.Memory.to_node`),
relationships are typed edges between them. Every query takes its values as parameters;
the only text ever formatted into a query is a relationship type or a depth, and those
come from `RelationType` or a validated integer. Scans are paged by `id`, so nothing is
truncated by FalkorDB's result-set cap however large the graph grows.

Connection failures become `GraphUnavailable` (503 at the API); a query the server rejects
becomes `StoreError`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from falkordb import FalkorDB

from loci.errors import GraphUnavailable, StoreError
from loci.memory import EmbeddingStatus, Memory, RelationType
from loci.stores.filters import MemoryFilter, TagMode

log = logging.getLogger(__name__)

SUPERSEDE_MAX_HOPS = 10
"""How far a chain of replacements is followed."""

PAGE_SIZE = 1000
"""Rows per page for every full scan (well under FalkorDB's result-set cap)."""

_SCHEMA = (
    "CREATE INDEX FOR (m:Memory) ON (m.id)",
    "CREATE INDEX FOR (m:Memory) ON (m.embedding_status)",
    "CREATE INDEX FOR (m:Memory) ON (m.tag_keys)",
    "CALL db.idx.fulltext.createNodeIndex('Memory', 'content')",
)


@dataclass(frozen=True)
class Neighbor:
    """A memory reached over one edge from a seed memory."""

    seed_id: str
    memory: Memory
    relation: str
    strength: float
    outgoing: bool
    """True when the edge points from the seed to this memory."""


@dataclass(frozen=True)
class Related:
    """A memory reached from another within a few hops."""

    memory: Memory
    relation_types: list[str]
    depth: int


class GraphStore:
    """Memories and their relationships in one FalkorDB graph."""

    def __init__(
        self,
        host: str,
        port: int,
        graph_name: str,
        password: str | None = None,
        socket_timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.graph_name = host, port, graph_name
        try:
            self._db = FalkorDB(
                host=host,
                port=port,
                password=password,
                socket_timeout=socket_timeout,
                socket_connect_timeout=min(socket_timeout, 3.0),
            )
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise GraphUnavailable(f"FalkorDB at {host}:{port} is unreachable: {exc}") from exc
        self._graph = self._db.select_graph(graph_name)

    # --- plumbing
    def _query(self, cypher: str, params: dict[str, Any] | None = None, *, read_only: bool = False) -> list[list[Any]]:
        try:
            run = self._graph.ro_query if read_only else self._graph.query
            result = run(cypher, params)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise GraphUnavailable(f"FalkorDB at {self.host}:{self.port} is unreachable: {exc}") from exc
        except redis.exceptions.ResponseError as exc:
            raise StoreError(f"FalkorDB rejected a query: {exc}") from exc
        return result.result_set

    def ping(self) -> None:
        """Raise GraphUnavailable unless the server answers."""
        try:
            self._db.connection.ping()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise GraphUnavailable(f"FalkorDB at {self.host}:{self.port} is unreachable: {exc}") from exc

    def ensure_schema(self) -> None:
        """Create the indexes Loci relies on; existing ones are left as they are."""
        for statement in _SCHEMA:
            try:
                self._query(statement)
            except StoreError as exc:
                if "already indexed" not in str(exc):
                    raise

    def close(self) -> None:
        self._db.connection.close()

    def drop(self) -> None:
        """Delete the whole graph (tests and benchmarks only)."""
        with contextlib.suppress(redis.exceptions.ResponseError):  # nothing stored yet
            self._graph.delete()

    # --- memories
    def create_memories(self, memories: Sequence[Memory]) -> None:
        """Write new memory nodes in one query; all or nothing."""
        rows = [memory.to_node() for memory in memories]
        result = self._query("UNWIND $rows AS row CREATE (m:Memory) SET m = row RETURN count(m)", {"rows": rows})
        if result[0][0] != len(rows):
            raise StoreError(f"FalkorDB stored {result[0][0]} of {len(rows)} memories")

    def get_memory(self, memory_id: str) -> Memory | None:
        rows = self._query("MATCH (m:Memory {id: $id}) RETURN m", {"id": memory_id}, read_only=True)
        return Memory.from_node(rows[0][0].properties) if rows else None

    def get_memories(self, ids: Sequence[str]) -> dict[str, Memory]:
        """The memories among `ids` that exist, by id."""
        if not ids:
            return {}
        rows = self._query(
            "UNWIND $ids AS id MATCH (m:Memory {id: id}) RETURN m", {"ids": list(dict.fromkeys(ids))}, read_only=True
        )
        return {row[0].properties["id"]: Memory.from_node(row[0].properties) for row in rows}

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of these ids still have a memory."""
        if not ids:
            return set()
        rows = self._query(
            "UNWIND $ids AS id MATCH (m:Memory {id: id}) RETURN m.id", {"ids": list(ids)}, read_only=True
        )
        return {row[0] for row in rows}

    def update_memory(self, memory: Memory, fields: Sequence[str]) -> bool:
        """Write only these fields of `memory` (and what derives from them), leaving the rest of the
        node as it is, so concurrent writers of other fields are not undone. False if it is gone."""
        rows = self._query(
            "MATCH (m:Memory {id: $id}) SET m += $props RETURN m.id",
            {"id": memory.id, "props": memory.node_fields(fields)},
        )
        return bool(rows)

    def delete_memory(self, memory_id: str) -> bool:
        rows = self._query("MATCH (m:Memory {id: $id}) DETACH DELETE m RETURN 1", {"id": memory_id})
        return bool(rows)

    def touch(self, ids: Sequence[str], when: str) -> None:
        """Record that these memories were read (`last_accessed`)."""
        if ids:
            self._query(
                "UNWIND $ids AS id MATCH (m:Memory {id: id}) SET m.last_accessed = $when",
                {"ids": list(ids), "when": when},
            )

    def embedding_counts(self, excluded_types: Sequence[str] = ()) -> dict[str, int]:
        """How many memories are in each embedding state."""
        rows = self._query(
            "MATCH (m:Memory) WHERE NOT m.type IN $excluded RETURN m.embedding_status, count(m)",
            {"excluded": list(excluded_types)},
            read_only=True,
        )
        counts = {status.value: 0 for status in EmbeddingStatus}
        counts.update({str(status): int(count) for status, count in rows if status})
        return counts

    def count_memories(self, excluded_types: Sequence[str] = ()) -> int:
        return sum(self.embedding_counts(excluded_types).values())

    def iter_ids(self, *, status: EmbeddingStatus | None = None, page_size: int = PAGE_SIZE) -> Iterator[str]:
        """Every memory id (optionally only those in one embedding state), paged by id."""
        where = "m.id > $after" + (" AND m.embedding_status = $status" if status else "")
        after = ""
        while True:
            rows = self._query(
                f"MATCH (m:Memory) WHERE {where} RETURN m.id ORDER BY m.id LIMIT $limit",
                {"after": after, "status": status.value if status else None, "limit": page_size},
                read_only=True,
            )
            for (memory_id,) in rows:
                yield memory_id
            if len(rows) < page_size:
                return
            after = rows[-1][0]

    # --- tags
    def memories_by_tag(self, keys: Sequence[str], limit: int, offset: int) -> list[Memory]:
        """Memories having any tag equal (case-insensitively) to one of `keys`."""
        rows = self._query(
            "MATCH (m:Memory) WHERE ANY(t IN m.tag_keys WHERE t IN $keys) "
            "RETURN m ORDER BY m.importance DESC, m.timestamp DESC, m.id ASC SKIP $offset LIMIT $limit",
            {"keys": list(keys), "offset": offset, "limit": limit},
            read_only=True,
        )
        return [Memory.from_node(row[0].properties) for row in rows]

    def delete_page_by_tag(self, keys: Sequence[str], limit: int = PAGE_SIZE) -> list[str]:
        """Delete up to `limit` memories having one of these tags; return their ids."""
        rows = self._query(
            "MATCH (m:Memory) WHERE ANY(t IN m.tag_keys WHERE t IN $keys) "
            "WITH m LIMIT $limit WITH m, m.id AS id DETACH DELETE m RETURN id",
            {"keys": list(keys), "limit": limit},
        )
        return [row[0] for row in rows]

    # --- embedding state
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

    # --- relationships
    def associate(self, relation: RelationType, rows: Sequence[dict[str, Any]], when: str) -> list[int]:
        """MERGE one edge type for many (src, dst) pairs; return the row indexes that landed.

        Each row is `{"idx", "src", "dst", "strength", "props"}`; a row whose memories do not
        both exist is simply not returned.
        """
        result = self._query(
            "UNWIND $rows AS row MATCH (a:Memory {id: row.src}), (b:Memory {id: row.dst}) "
            f"MERGE (a)-[r:{relation.value}]->(b) "
            "SET r.strength = row.strength, r.updated_at = $when, r += row.props RETURN row.idx",
            {"rows": list(rows), "when": when},
        )
        return [row[0] for row in result]

    def related(self, memory_id: str, types: Sequence[RelationType], depth: int, limit: int) -> list[Related]:
        """Memories within `depth` hops over these edge types, either direction."""
        if not types or not 1 <= depth <= 5:
            return []
        pattern = "|".join(t.value for t in types)
        rows = self._query(
            f"MATCH p = (m:Memory {{id: $id}})-[:{pattern}*1..{depth}]-(o:Memory) WHERE o.id <> $id "
            "WITH o, min(length(p)) AS hops, collect(p)[0] AS path "
            "RETURN o, hops, [r IN relationships(path) | type(r)] "
            "ORDER BY o.importance DESC, o.timestamp DESC LIMIT $limit",
            {"id": memory_id, "limit": limit},
            read_only=True,
        )
        return [Related(Memory.from_node(o.properties), list(kinds), int(hops)) for o, hops, kinds in rows]

    def neighbors(self, seed_ids: Sequence[str], types: Sequence[RelationType], per_seed: int) -> list[Neighbor]:
        """Up to `per_seed` newest edges of these types around each seed, with the memory at the other end."""
        if not seed_ids or not types:
            return []
        pattern = "|".join(t.value for t in types)
        rows = self._query(
            f"UNWIND $ids AS sid MATCH (s:Memory {{id: sid}})-[r:{pattern}]-(o:Memory) WHERE o.id <> sid "
            "WITH sid, o, r ORDER BY r.updated_at DESC "
            "WITH sid, collect([o, type(r), r.strength, startNode(r).id = sid])[0..$per_seed] AS found "
            "UNWIND found AS f RETURN sid, f[0], f[1], f[2], f[3]",
            {"ids": list(seed_ids), "per_seed": per_seed},
            read_only=True,
        )
        return [
            Neighbor(sid, Memory.from_node(o.properties), kind, float(strength if strength is not None else 0.5), out)
            for sid, o, kind, strength, out in rows
        ]

    def outgoing_edges(self, ids: Sequence[str], per_memory: int = 5) -> dict[str, list[dict[str, Any]]]:
        """Up to `per_memory` newest outgoing edges of each memory: type, target id, strength."""
        if not ids:
            return {}
        rows = self._query(
            "UNWIND $ids AS id MATCH (m:Memory {id: id})-[r]->(o:Memory) "
            "WITH id, r, o ORDER BY r.updated_at DESC "
            "WITH id, collect({type: type(r), memory_id: o.id, strength: r.strength})[0..$n] AS edges "
            "RETURN id, edges",
            {"ids": list(ids), "n": per_memory},
            read_only=True,
        )
        return {memory_id: list(edges) for memory_id, edges in rows}

    def successors(self, ids: Sequence[str], max_hops: int = SUPERSEDE_MAX_HOPS) -> dict[str, list[Memory]]:
        """For memories replaced through INVALIDATED_BY / EVOLVED_INTO, their replacements, furthest first.

        A memory absent from the answer has no replacement. Chains are followed up to
        `max_hops` edges; a cycle never brings a memory back as its own replacement.
        """
        if not ids:
            return {}
        rows = self._query(
            "UNWIND $ids AS id MATCH p = (old:Memory {id: id})-[:INVALIDATED_BY|EVOLVED_INTO*1.."
            f"{int(max_hops)}]->(next:Memory) WHERE next.id <> id "
            "WITH id, next, max(length(p)) AS hops ORDER BY hops DESC "
            "RETURN id, collect(next)",
            {"ids": list(ids)},
            read_only=True,
        )
        return {old_id: [Memory.from_node(node.properties) for node in chain] for old_id, chain in rows}

    # --- search
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
    "importance": "m.importance DESC, m.timestamp DESC",
    "time_desc": "m.timestamp DESC",
    "time_asc": "m.timestamp ASC",
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
        parts.append(f"{var}.timestamp >= $f_start")
        params["f_start"] = where.start
    if where.end:
        parts.append(f"{var}.timestamp <= $f_end")
        params["f_end"] = where.end
    return " AND ".join(parts), params
