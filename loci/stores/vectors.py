"""VectorStore: the interface recall and the pipeline use, and the choice of implementation.

Three implementations speak it (VECTOR_STORE chooses between Qdrant and FalkorDB):
- `QdrantServerStore` (`loci.stores.qdrant_server`): qdrant-client against a Qdrant server
  (QDRANT_URL / QDRANT_HOST), or qdrant-client's in-process local mode for `QDRANT_URL=:memory:`.
- `EmbeddedQdrantStore` (`loci.stores.qdrant_embedded`): the embedded Qdrant engine
  (qdrant-edge) in `LOCI_DATA_DIR/qdrant`; the default, no server needed.
- `FalkorVectorStore` (`loci.stores.falkordb_vectors`): FalkorDB's own vector index, the vector
  on the memory's node (VECTOR_STORE=falkordb); its payloads are the nodes themselves.

All return Loci dataclasses, never library objects, and raise `StoreUnavailable`
or `StoreError`. Points are keyed by memory id and carry the full payload of
`Memory.payload()`; distance is cosine.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from loci.config import Settings, VectorStoreName
from loci.diskspace import DiskGuard
from loci.errors import ConfigError
from loci.stores.filters import MemoryFilter

if TYPE_CHECKING:
    from loci.stores.graph import GraphStore

log = logging.getLogger(__name__)

KEYWORD_INDEXES = ("tags", "tag_prefixes", "tag_keys", "type")
"""Payload fields with a keyword index (filters on tags and types stay fast)."""


@dataclass(frozen=True)
class VectorPoint:
    id: str
    vector: list[float] | None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VectorHit:
    id: str
    score: float
    """Cosine similarity, -1..1."""
    payload: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class VectorStore(Protocol):
    kind: str
    """"embedded", "server", "memory" or "falkordb"."""
    on_graph: bool
    """True when vectors are properties of the memory nodes (FalkorDB): a vector is stored only where
    its memory's node exists, so a writer of both writes the node first."""
    dimension: int
    """The collection's vector size (may differ from the configured one when adopted)."""

    def ping(self) -> None: ...

    def upsert(self, points: Sequence[VectorPoint]) -> None: ...

    def search(
        self, vector: Sequence[float], limit: int, where: MemoryFilter, *, with_payload: bool = False
    ) -> list[VectorHit]:
        """Nearest points passing `where`, best first (payloads only if asked: the graph is the record)."""
        ...

    def search_batch(
        self, vectors: Sequence[Sequence[float]], limit: int, where: MemoryFilter
    ) -> list[list[VectorHit]]:
        """`search` for several vectors in one call (no payloads)."""
        ...

    def similarities(self, vector: Sequence[float], ids: Sequence[str]) -> dict[str, float]:
        """The score (cosine) of `vector` against each of these stored points; absent points are left out."""
        ...

    def retrieve(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[VectorPoint]: ...

    def set_payloads(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Set some payload fields of existing points (others are kept); missing points are skipped."""
        ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def count(self) -> int: ...

    def iter_ids(self, page_size: int = 1000) -> Iterator[str]: ...

    def maintain(self) -> bool:
        """Housekeeping between batches (index building); True if it did something."""
        ...

    def close(self) -> None: ...


def resolve_dimension(configured: int, existing: int | None, autodetect: bool, where: str) -> int:
    """The dimension to use given the configured one and an existing collection's.

    An existing collection of another size is adopted (with a warning) when autodetect is
    on, and refused otherwise: silently writing vectors of the wrong size breaks every search.
    """
    if existing is None or existing == configured:
        return configured
    if not autodetect:
        raise ConfigError(
            f"{where} holds {existing}-d vectors but VECTOR_SIZE is {configured} and VECTOR_SIZE_AUTODETECT=false"
        )
    log.warning(
        "adopting existing vector dimension",
        extra={"event": "vectors.dimension_adopted", "existing": existing, "configured": configured, "where": where},
    )
    return existing


def open_vector_store(
    settings: Settings,
    dimension: int,
    disk: DiskGuard | None = None,
    *,
    collection: str | None = None,
    graph: GraphStore | None = None,
) -> VectorStore:
    """The vector store the settings ask for, with its collection ready (an embedded one watches `disk`).
    `collection` is a namespace's (loci/namespaces.py); QDRANT_COLLECTION when not given.

    VECTOR_STORE=falkordb keeps the vectors on the nodes of `graph` (the namespace's GraphStore,
    just opened), which it then needs; it has no collection. Qdrant ignores `graph`.
    """
    if settings.vector_store is VectorStoreName.FALKORDB:
        if graph is None:
            raise ConfigError("VECTOR_STORE=falkordb needs the graph store to open the vector store on")
        from loci.stores.falkordb_vectors import FalkorVectorStore

        return FalkorVectorStore(
            graph,
            dimension,
            autodetect=settings.vector_size_autodetect,
            ef_runtime=settings.falkordb_ef_runtime,
            exact=settings.exact_vector_search,
        )
    location, name = settings.qdrant_location, collection or settings.qdrant_collection
    if location:
        from loci.stores.qdrant_server import QdrantServerStore

        return QdrantServerStore(
            location,
            collection=name,
            dimension=dimension,
            autodetect=settings.vector_size_autodetect,
            api_key=settings.qdrant_api_key,
            timeout=settings.qdrant_timeout_seconds,
            exact=settings.exact_vector_search,
        )
    from loci.stores.qdrant_embedded import EmbeddedQdrantStore

    return EmbeddedQdrantStore(
        settings.data_dir / "qdrant" / name,
        dimension=dimension,
        autodetect=settings.vector_size_autodetect,
        disk=disk,
        exact=settings.exact_vector_search,
    )


def drop_collection(settings: Settings, collection: str) -> None:
    """Delete a collection and every vector in it (a dropped namespace's); its store must be closed."""
    if settings.vector_store is VectorStoreName.FALKORDB:
        return  # the vectors are on the namespace's graph nodes: they go with its graph
    if settings.qdrant_location:
        from loci.stores.qdrant_server import QdrantServerStore

        QdrantServerStore.drop_collection(
            settings.qdrant_location,
            collection,
            api_key=settings.qdrant_api_key,
            timeout=settings.qdrant_timeout_seconds,
        )
        return
    shutil.rmtree(settings.data_dir / "qdrant" / collection, ignore_errors=True)
