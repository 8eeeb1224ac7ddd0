"""Cypher for backup and restore: a point-in-time copy of the graph, read in pages; restored nodes and edges.

A backup reads a copy of the graph made by one `GRAPH.COPY` (FalkorDB copies the graph
while no write runs, so the copy is the graph as of one instant: a memory written
meanwhile is either whole in it or absent, and no edge points at a node the copy lacks).
The copy carries an expiry that every page renews, so a backup that dies half-way leaves
nothing behind for long. A server without `GRAPH.COPY` is read live instead (`Snapshot.live`).

Pages go by internal node id ranges (`NodeByIdSeek`: no sort, no SKIP over the whole graph),
and edges by the ranges of their source node.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from loci.errors import StoreError
from loci.model import EMBEDDING_PROPERTY, Memory, RelationType
from loci.stores.graph.base import PAGE_SIZE, GraphConnection, QueryGroup

log = logging.getLogger(__name__)

COPY_TTL_MS = 10 * 60 * 1000
"""A backup's copy of the graph expires this long after its last page was read."""

SIDE_LABELS = ("Pattern", "Entity")
"""Labels of the nodes besides memories a restore writes back (keyed by their `id` property)."""

EDGE_TYPES = frozenset({*(t.value for t in RelationType), "REFERENCED_IN"})
"""Edge types a restore writes (legacy names are read as DISCOVERED before they get here)."""


@dataclass(frozen=True)
class RawNode:
    id: int
    labels: list[str]
    properties: dict[str, Any]


@dataclass(frozen=True)
class RawEdge:
    source_id: int
    type: str
    target_id: int
    properties: dict[str, Any]


class Snapshot:
    """Pages of one graph as it was when the snapshot was taken (see the module docstring)."""

    def __init__(self, view: GraphConnection, copy_name: str | None) -> None:
        self._view, self.copy_name = view, copy_name
        self.max_id = self._query("MATCH (n) RETURN max(id(n))")[0][0]

    @property
    def live(self) -> bool:
        """True when the server could not copy the graph and the live graph is read instead."""
        return self.copy_name is None

    def _query(self, cypher: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        if self.copy_name:
            self._view.redis.pexpire(self.copy_name, COPY_TTL_MS)
        return self._view.query(cypher, params, read_only=True)

    def _ranges(self, size: int) -> Iterator[tuple[int, int]]:
        if self.max_id is None:
            return
        for low in range(0, int(self.max_id) + 1, size):
            yield low, low + size

    def node_pages(self, size: int = PAGE_SIZE) -> Iterator[list[RawNode]]:
        """Every node, in id order, at most `size` to a page."""
        for low, high in self._ranges(size):
            rows = self._query(
                "MATCH (n) WHERE id(n) >= $lo AND id(n) < $hi RETURN id(n), labels(n), properties(n)",
                {"lo": low, "hi": high},
            )
            if rows:
                yield sorted((RawNode(int(i), list(labels), _record(props)) for i, labels, props in rows), key=_node_id)

    def edge_pages(self, size: int = PAGE_SIZE) -> Iterator[list[RawEdge]]:
        """Every edge, grouped by the id range of its source node, at most `size` to a page."""
        for low, high in self._ranges(size):
            skip = 0
            while True:
                rows = self._query(
                    "MATCH (a)-[r]->(b) WHERE id(a) >= $lo AND id(a) < $hi "
                    "RETURN id(a), type(r), id(b), properties(r) ORDER BY id(r) SKIP $skip LIMIT $limit",
                    {"lo": low, "hi": high, "skip": skip, "limit": size},
                )
                if rows:
                    yield [RawEdge(int(a), kind, int(b), dict(props)) for a, kind, b, props in rows]
                if len(rows) < size:
                    break
                skip += size

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str | None]:
        """The content fingerprint of each of these memories the snapshot holds."""
        rows = self._query(
            "UNWIND $ids AS id MATCH (m:Memory {id: id}) RETURN m.id, m.content_hash", {"ids": list(ids)}
        )
        return {memory_id: digest for memory_id, digest in rows}

    def close(self) -> None:
        """Drop the copy (the live graph is left alone)."""
        if self.copy_name:
            self._view.redis.delete(self.copy_name)


def _record(props: dict[str, Any]) -> dict[str, Any]:
    """A node's properties without a FalkorDB-held vector: vectors go in the archive's vector file."""
    return {key: value for key, value in props.items() if key != EMBEDDING_PROPERTY}


def _node_id(node: RawNode) -> int:
    return node.id


class BackupQueries(QueryGroup):
    """The graph's side of backup (a snapshot to read) and of restore (writing nodes and edges back)."""

    def snapshot(self) -> Snapshot:
        """A point-in-time copy of the graph to read from (or the live graph, if the server cannot copy)."""
        source = self._connection.graph_name
        name = f"{source}__backup_{uuid.uuid4().hex[:12]}"
        try:
            self._connection.redis.execute_command("GRAPH.COPY", source, name)
        except redis.exceptions.ResponseError as exc:
            if "empty key" in str(exc):  # no graph yet: nothing to copy, nothing to read
                return Snapshot(self._connection, None)
            log.warning(
                "GRAPH.COPY refused; reading the live graph",
                extra={"event": "backup.live_read", "graph": source, "error": str(exc)},
            )
            return Snapshot(self._connection, None)
        except redis.exceptions.RedisError as exc:
            raise StoreError(f"FalkorDB could not copy graph {source}: {exc}") from exc
        self._connection.redis.pexpire(name, COPY_TTL_MS)
        return Snapshot(_view(self._connection, name), name)

    # --- restore
    def missing_ids(self, ids: Sequence[str]) -> list[str]:
        """Which of these memory ids have no memory (in the order given)."""
        rows = self._query(
            "UNWIND $ids AS id MATCH (m:Memory {id: id}) RETURN m.id", {"ids": list(ids)}, read_only=True
        )
        present = {row[0] for row in rows}
        return [memory_id for memory_id in ids if memory_id not in present]

    def create_memories(self, memories: Sequence[Memory]) -> None:
        """Create memory nodes whose ids are not present (the caller checked) in one query."""
        rows = [m.to_node() for m in memories]
        if rows:
            result = self._query("UNWIND $rows AS row CREATE (m:Memory) SET m = row RETURN count(m)", {"rows": rows})
            if result[0][0] != len(rows):
                raise StoreError(f"FalkorDB restored {result[0][0]} of {len(rows)} memories")

    def merge_side_nodes(self, label: str, rows: Sequence[dict[str, Any]]) -> None:
        """Create the Pattern or Entity nodes not present yet (by `id`); present ones are kept as they are."""
        if label not in SIDE_LABELS:
            raise ValueError(f"not a restorable label: {label}")
        if rows:
            self._query(
                f"UNWIND $rows AS row MERGE (n:{label} {{id: row.id}}) ON CREATE SET n = row",
                {"rows": list(rows)},
            )

    def merge_edges(self, kind: str, rows: Sequence[dict[str, Any]]) -> int:
        """MERGE edges of one type between nodes found by label and `id`; rows {src, src_label, dst,
        dst_label, props}. Returns how many landed (the others lack an end)."""
        if kind not in EDGE_TYPES:
            raise ValueError(f"not a restorable edge type: {kind}")
        landed = 0
        by_labels: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            by_labels.setdefault((row["src_label"], row["dst_label"]), []).append(row)
        for (src_label, dst_label), group in by_labels.items():
            if not {src_label, dst_label} <= {"Memory", *SIDE_LABELS}:
                raise ValueError(f"not a restorable label: {src_label} or {dst_label}")
            result = self._query(
                f"UNWIND $rows AS row MATCH (a:{src_label} {{id: row.src}}), (b:{dst_label} {{id: row.dst}}) "
                f"MERGE (a)-[r:{kind}]->(b) SET r += row.props RETURN count(r)",
                {"rows": group},
            )
            landed += int(result[0][0]) if result else 0
        return landed


def _view(connection: GraphConnection, graph_name: str) -> GraphConnection:
    """The same server connection, sending its queries to another graph (the backup's copy)."""
    view = copy.copy(connection)
    view.graph_name = graph_name
    view._graph = connection._db.select_graph(graph_name)
    return view
