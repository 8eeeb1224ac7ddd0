"""FalkorVectorStore: vectors in FalkorDB itself, on the memories' own nodes (VECTOR_STORE=falkordb).

A memory's vector is its node's `embedding` property (a `vecf32`), indexed by one cosine HNSW
index over `Memory` nodes; the Cypher is `graph.vectors` (loci/stores/graph/vectors.py). So a
deployment is one database: a vector is written where its memory is, deleting the memory
deletes its vector, and there is no second store for the sync job to bring back in step.

How it differs from the Qdrant stores, and why:
- **The node is the record, so there is no payload copy.** `retrieve` builds the payload
  from the node as it is now (`Memory.payload()` of it); `set_payloads` has nothing to copy
  and does nothing (the graph write before it already changed the node); `upsert` writes
  only the vector, never the payload it is handed, which may be older than the node (an
  embedding read before a PATCH would otherwise undo the PATCH).
- **A vector needs its memory's node.** `upsert` writes vectors onto existing nodes only and
  leaves out the others (logged): writing a node for them would bring back a memory deleted
  while it was being embedded. Callers that write vectors before nodes check `on_graph`
  (the restore writes them after the nodes: loci/backup/apply.py).
- **Filters are the graph's own** (`filter_clause`, the condition `list_memories` uses), so
  `archived` and `min_importance` apply here too: nothing can lag behind the record.
- **Scores**: FalkorDB yields the cosine distance (0 = same direction); hits carry the cosine
  similarity `1 - distance`, as the Qdrant stores do.
- **Query-time ef**: HNSW keeps max(efRuntime, k) candidates while it walks, so each query asks
  the index for at least `ef_runtime` neighbours (LOCI_FALKORDB_EF_RUNTIME) and keeps the best
  `limit`: the setting applies to an existing index without rebuilding it. The index itself is
  created with the lowest efRuntime (`INDEX_EF_RUNTIME`), the floor under every query.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from loci.errors import StoreError, VectorStoreUnavailable
from loci.model import EMBEDDING_PROPERTY, Memory
from loci.stores.filters import MemoryFilter
from loci.stores.graph import GraphStore
from loci.stores.vectors import VectorHit, VectorPoint, resolve_dimension

log = logging.getLogger(__name__)

HNSW_M = 16
"""Links per node in the HNSW graph (FalkorDB's default, as Qdrant's m)."""
HNSW_EF_CONSTRUCTION = 200
"""Candidates kept while a vector is inserted (FalkorDB's default)."""
INDEX_EF_RUNTIME = 10
"""The efRuntime the index is created with: the least any query walks with; queries raise it (above)."""
WIDEN_FACTOR = 4
"""A filtered search that found too few matches asks the index for this many times more neighbours."""
MAX_INDEX_K = 4096
"""The most neighbours asked of the index in one walk; a filter still short of `limit` after that is
answered by comparing the query with the vector of every memory that passes it (exact)."""


class FalkorVectorStore:
    """VectorStore over FalkorDB's vector index on `Memory.embedding`, sharing the graph's connection."""

    kind = "falkordb"
    on_graph = True

    def __init__(
        self, graph: GraphStore, dimension: int, autodetect: bool = True, ef_runtime: int = 40, exact: bool = False
    ) -> None:
        self.graph = graph
        """The graph store whose nodes hold the vectors (its connection is the graph's, closed by the graph)."""
        self.ef_runtime = ef_runtime
        self.exact = exact
        """With `exact`, searches compare every vector (LOCI_EXACT_VECTOR_SEARCH) instead of walking the index."""
        self._queries = graph.vectors
        self._closed = False
        options = self._queries.index_options()
        existing = int(options["dimension"]) if options else None
        self.dimension = resolve_dimension(
            dimension, existing, autodetect, f"FalkorDB's vector index on graph {graph.graph_name!r}"
        )
        if options is None:
            self._queries.create_index(self.dimension, HNSW_M, HNSW_EF_CONSTRUCTION, INDEX_EF_RUNTIME)
        elif str(options.get("similarityFunction", "cosine")).lower() != "cosine":
            raise StoreError(f"the vector index on graph {graph.graph_name!r} is not cosine: {options}")

    def _open(self) -> None:
        if self._closed:
            raise VectorStoreUnavailable("the FalkorDB vector store is closed")

    # --- VectorStore
    def ping(self) -> None:
        self._open()
        self.graph.ping()

    def upsert(self, points: Sequence[VectorPoint]) -> None:
        """Write each point's vector onto its memory's node; points whose memory has no node are left out."""
        self._open()
        if not points:
            return
        for p in points:
            if p.vector is None or len(p.vector) != self.dimension:
                size = 0 if p.vector is None else len(p.vector)
                raise StoreError(f"vector of memory {p.id} has {size} dimensions; the index holds {self.dimension}")
        written = set(self._queries.set_vectors([(p.id, p.vector or []) for p in points]))
        skipped = [p.id for p in points if p.id not in written]
        if skipped:
            log.info(
                "vectors not written: no memory node",
                extra={"event": "vectors.no_node", "memory_ids": skipped, "count": len(skipped)},
            )

    def search(
        self, vector: Sequence[float], limit: int, where: MemoryFilter, *, with_payload: bool = False
    ) -> list[VectorHit]:
        """The `limit` nearest memories passing `where`.

        The index walk yields its k nearest before the filter is applied, so k starts at
        max(limit, ef_runtime) and is multiplied by `WIDEN_FACTOR` while fewer than `limit` pass
        and the index had more to give (it yielded all k). Past `MAX_INDEX_K` the filter is
        selective enough that comparing the query with each passing memory's vector is the
        cheaper way to finish, and it is exact.
        """
        self._open()
        self._check_query(vector)
        found = self._nearest(vector, limit, where)
        payloads = self._payloads([memory_id for memory_id, _ in found]) if with_payload else {}
        return [VectorHit(i, 1.0 - distance, payloads.get(i, {})) for i, distance in found]

    def _nearest(self, vector: Sequence[float], limit: int, where: MemoryFilter) -> list[tuple[str, float]]:
        if limit <= 0:
            return []
        if self.exact:
            return self._queries.nearest_exact(vector, where, limit)
        k = max(limit, self.ef_runtime)
        while True:
            seen, hits = self._queries.nearest(vector, k, where, limit)
            if len(hits) >= limit or seen < k:
                return hits
            if k >= MAX_INDEX_K:
                return self._queries.nearest_exact(vector, where, limit)
            k = min(k * WIDEN_FACTOR, MAX_INDEX_K)

    def search_batch(
        self, vectors: Sequence[Sequence[float]], limit: int, where: MemoryFilter
    ) -> list[list[VectorHit]]:
        return [self.search(vector, limit, where) for vector in vectors]

    def similarities(self, vector: Sequence[float], ids: Sequence[str]) -> dict[str, float]:
        self._open()
        if not ids:
            return {}
        self._check_query(vector)
        return {i: 1.0 - distance for i, distance in self._queries.distances(vector, ids).items()}

    def retrieve(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[VectorPoint]:
        """The memories among `ids` that have a vector; the payload is read from the node as it is now."""
        self._open()
        points = []
        for props in self._queries.with_vectors(ids, vectors=with_vectors):
            vector = props.pop(EMBEDDING_PROPERTY, None)
            points.append(VectorPoint(str(props["id"]), list(vector) if vector else None, _payload(props)))
        return points

    def set_payloads(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Nothing to do: the payload is the memory's node, which the graph write before this call changed."""
        self._open()

    def delete(self, ids: Sequence[str]) -> None:
        """Remove these memories' vectors; the nodes belong to the graph store and stay."""
        self._open()
        self._queries.clear_vectors(ids)

    def count(self) -> int:
        self._open()
        return self._queries.count()

    def iter_ids(self, page_size: int = 1000) -> Iterator[str]:
        self._open()
        after = ""
        while page := self._queries.ids_after(after, page_size):
            yield from page
            after = page[-1]

    def maintain(self) -> bool:
        """FalkorDB indexes each vector as it is written: nothing to build later."""
        return False

    def close(self) -> None:
        """Refuse further calls; the connection is the graph store's and closes with it."""
        self._closed = True

    def _check_query(self, vector: Sequence[float]) -> None:
        if len(vector) != self.dimension:  # FalkorDB would refuse it with a less helpful message
            raise StoreError(f"query vector has {len(vector)} dimensions; the index holds {self.dimension}")

    def _payloads(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {str(props["id"]): _payload(props) for props in self._queries.with_vectors(ids, vectors=False)}


def _payload(props: dict[str, Any]) -> dict[str, Any]:
    """What the Qdrant stores keep as a point's payload, from the node itself."""
    return Memory.from_node(props).payload()
