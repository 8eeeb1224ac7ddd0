"""Cypher for FalkorDB's own vector index: memory vectors as a property of their nodes.

With VECTOR_STORE=falkordb (loci/stores/falkordb_vectors.py) a memory's vector is the node
property `embedding` (a `vecf32`), indexed by one cosine HNSW index over `Memory` nodes.
`db.idx.vector.queryNodes` yields its `score` as the cosine DISTANCE (0 for the same
direction, 2 for opposite ones), and so does `vec.cosineDistance`; these methods return the
distance as FalkorDB gives it and the store turns it into the similarity (1 - distance).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loci.errors import StoreError
from loci.model import EMBEDDING_PROPERTY
from loci.stores.filters import MemoryFilter
from loci.stores.graph.base import QueryGroup
from loci.stores.graph.search import filter_clause

VECTOR = EMBEDDING_PROPERTY
_QUERY = f"CALL db.idx.vector.queryNodes('Memory', '{VECTOR}', $k, vecf32($vector)) YIELD node AS m, score"


class VectorQueries(QueryGroup):
    """The vector index over memory nodes: its options, vectors written and removed, nearest-neighbour walks."""

    def index_options(self) -> dict[str, Any] | None:
        """The options (dimension, similarityFunction, M, efConstruction, efRuntime) of the vector index
        on `Memory.embedding`, or None when there is none."""
        for row in self._query("CALL db.indexes()", read_only=True):
            label, options = row[0], row[3]
            if label == "Memory" and VECTOR in options and options[VECTOR]:
                return dict(options[VECTOR])
        return None

    def create_index(self, dimension: int, m: int, ef_construction: int, ef_runtime: int) -> None:
        """The cosine HNSW index (the values are integers checked by the caller: FalkorDB takes no
        parameters in index options)."""
        options = (
            f"{{dimension: {int(dimension)}, similarityFunction: 'cosine', M: {int(m)}, "
            f"efConstruction: {int(ef_construction)}, efRuntime: {int(ef_runtime)}}}"
        )
        try:
            self._query(f"CREATE VECTOR INDEX FOR (m:Memory) ON (m.{VECTOR}) OPTIONS {options}")
        except StoreError as exc:  # another process of a fleet opened the same new namespace at the same moment
            if "already indexed" not in str(exc):
                raise

    def set_vectors(self, rows: Sequence[tuple[str, Sequence[float]]]) -> list[str]:
        """Write these vectors onto their memories' nodes; returns the ids that had a node."""
        if not rows:
            return []
        found = self._query(
            f"UNWIND $rows AS row MATCH (m:Memory {{id: row[0]}}) SET m.{VECTOR} = vecf32(row[1]) RETURN m.id",
            {"rows": [[memory_id, list(vector)] for memory_id, vector in rows]},
        )
        return [row[0] for row in found]

    def clear_vectors(self, ids: Sequence[str]) -> None:
        """Remove the vectors of these memories (their nodes stay)."""
        if ids:
            self._query(
                f"UNWIND $ids AS id MATCH (m:Memory {{id: id}}) WHERE m.{VECTOR} IS NOT NULL SET m.{VECTOR} = NULL",
                {"ids": list(ids)},
            )

    def nearest(
        self, vector: Sequence[float], k: int, where: MemoryFilter, limit: int
    ) -> tuple[int, list[tuple[str, float]]]:
        """The index's `k` nearest memories, then those passing `where`: how many the index yielded
        (fewer than `k` means it had no more) and the first `limit` passing, as (id, distance), nearest first."""
        clause, params = filter_clause(where)
        rows = self._query(
            f"{_QUERY} WITH m, score ORDER BY score "
            f"WITH count(m) AS seen, collect(CASE WHEN {clause} THEN [m.id, score] END) AS hits "
            "RETURN seen, hits[0..$limit]",
            {**params, "k": k, "vector": list(vector), "limit": limit},
            read_only=True,
        )
        if not rows:
            return 0, []
        seen, hits = rows[0]
        return int(seen), [(str(memory_id), float(score)) for memory_id, score in hits]

    def nearest_exact(self, vector: Sequence[float], where: MemoryFilter, limit: int) -> list[tuple[str, float]]:
        """The `limit` nearest of the memories passing `where`, by comparing the query with each of their
        vectors (no index walk): exact, at a cost growing with the memories that pass."""
        clause, params = filter_clause(where)
        rows = self._query(
            f"MATCH (m:Memory) WHERE m.{VECTOR} IS NOT NULL AND {clause} "
            f"WITH m.id AS id, vec.cosineDistance(m.{VECTOR}, vecf32($vector)) AS d "
            "RETURN id, d ORDER BY d, id LIMIT $limit",
            {**params, "vector": list(vector), "limit": limit},
            read_only=True,
        )
        return [(str(memory_id), float(distance)) for memory_id, distance in rows]

    def distances(self, vector: Sequence[float], ids: Sequence[str]) -> dict[str, float]:
        """The cosine distance of `vector` to each of these memories' vectors (those without one are left out)."""
        if not ids:
            return {}
        rows = self._query(
            f"UNWIND $ids AS id MATCH (m:Memory {{id: id}}) WHERE m.{VECTOR} IS NOT NULL "
            f"RETURN m.id, vec.cosineDistance(m.{VECTOR}, vecf32($vector))",
            {"ids": list(dict.fromkeys(ids)), "vector": list(vector)},
            read_only=True,
        )
        return {str(memory_id): float(distance) for memory_id, distance in rows}

    def with_vectors(self, ids: Sequence[str], *, vectors: bool) -> list[dict[str, Any]]:
        """The node properties of those of these memories that have a vector (the vector itself only if asked)."""
        if not ids:
            return []
        rows = self._query(
            f"UNWIND $ids AS id MATCH (m:Memory {{id: id}}) WHERE m.{VECTOR} IS NOT NULL RETURN properties(m)",
            {"ids": list(dict.fromkeys(ids))},
            read_only=True,
        )
        found = [dict(row[0]) for row in rows]
        if not vectors:
            for props in found:
                props.pop(VECTOR, None)
        return found

    def count(self) -> int:
        """Memories that have a vector."""
        rows = self._query(f"MATCH (m:Memory) WHERE m.{VECTOR} IS NOT NULL RETURN count(m)", read_only=True)
        return int(rows[0][0])

    def ids_after(self, after: str, limit: int) -> list[str]:
        """Ids of memories with a vector, in id order, from just past `after` (a page of a scan)."""
        rows = self._query(
            f"MATCH (m:Memory) WHERE m.id > $after AND m.{VECTOR} IS NOT NULL RETURN m.id ORDER BY m.id LIMIT $limit",
            {"after": after, "limit": limit},
            read_only=True,
        )
        return [row[0] for row in rows]
