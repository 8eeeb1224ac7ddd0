"""Cypher for relationships between memories: create, walk, expand, follow replacements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loci.model import Memory, RelationType
from loci.stores.graph.base import QueryGroup

SUPERSEDE_MAX_HOPS = 10
"""How far a chain of replacements is followed."""


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


class RelationQueries(QueryGroup):
    """Edges between memories."""

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
