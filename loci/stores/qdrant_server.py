"""QdrantServerStore: qdrant-client against a Qdrant server, or its local mode for `:memory:`.

QDRANT_URL (or QDRANT_HOST/QDRANT_PORT) selects a server. `QDRANT_URL=:memory:` runs
qdrant-client's in-process local mode: the same client calls against an in-memory
engine, which is how the test suite covers this code path without a server binary.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from loci.errors import StoreError, VectorStoreUnavailable
from loci.stores.filters import MemoryFilter, TagMode
from loci.stores.vectors import KEYWORD_INDEXES, VectorHit, VectorPoint, resolve_dimension
from loci.timeutil import parse_timestamp

log = logging.getLogger(__name__)

_UNREACHABLE = (httpx.TransportError, ResponseHandlingException, ConnectionError, TimeoutError)


class QdrantServerStore:
    """VectorStore over one Qdrant collection through qdrant-client."""

    on_graph = False

    @staticmethod
    def drop_collection(location: str, collection: str, api_key: str | None = None, timeout: float = 10.0) -> None:
        """Delete a collection on the server (nothing to do for ":memory:", which goes with its client)."""
        if location == ":memory:":
            return
        client = QdrantClient(url=location, api_key=api_key, timeout=int(max(1, timeout)))
        try:
            if client.collection_exists(collection):
                client.delete_collection(collection)
        except Exception as exc:  # qdrant-client raises transport and API errors of several types
            raise VectorStoreUnavailable(f"Qdrant could not drop collection {collection!r}: {exc}") from exc
        finally:
            client.close()

    def __init__(
        self,
        location: str,
        collection: str,
        dimension: int,
        autodetect: bool = True,
        api_key: str | None = None,
        timeout: float = 10.0,
        exact: bool = False,
    ) -> None:
        self.collection = collection
        self.location = location
        self._search_params = models.SearchParams(exact=True) if exact else None
        """With `exact`, searches compare every vector (LOCI_EXACT_VECTOR_SEARCH) instead of the HNSW index."""
        self.kind = "memory" if location == ":memory:" else "server"
        if self.kind == "memory":
            self._client = QdrantClient(location=":memory:")
        else:
            self._client = QdrantClient(url=location, api_key=api_key, timeout=int(max(1, timeout)))
        existing = self._call("get collection", self._existing_dimension)
        self.dimension = resolve_dimension(dimension, existing, autodetect, f"Qdrant collection {collection!r}")
        if existing is None:
            self._call(
                "create collection",
                self._client.create_collection,
                collection,
                models.VectorParams(size=self.dimension, distance=models.Distance.COSINE),
            )
        self._ensure_indexes()

    def _existing_dimension(self) -> int | None:
        if not self._client.collection_exists(self.collection):
            return None
        vectors = self._client.get_collection(self.collection).config.params.vectors
        if isinstance(vectors, models.VectorParams):
            return int(vectors.size)
        raise StoreError(f"Qdrant collection {self.collection!r} uses named vectors; Loci needs one unnamed vector")

    def _ensure_indexes(self) -> None:
        schemas: dict[str, Any] = {name: models.PayloadSchemaType.KEYWORD for name in KEYWORD_INDEXES}
        schemas["timestamp"] = models.PayloadSchemaType.DATETIME
        with warnings.catch_warnings():
            # local mode warns that payload indexes are no-ops there; they matter on a server
            warnings.simplefilter("ignore", UserWarning)
            for name, schema in schemas.items():
                self._call("create index", self._client.create_payload_index, self.collection, name, schema)

    def _call(self, operation: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _UNREACHABLE as exc:
            raise VectorStoreUnavailable(f"Qdrant at {self.location} is unreachable ({operation}): {exc}") from exc
        except UnexpectedResponse as exc:
            if exc.status_code is not None and exc.status_code >= 500:
                raise VectorStoreUnavailable(f"Qdrant {operation} failed: {exc}") from exc
            raise StoreError(f"Qdrant {operation} failed: {exc}") from exc
        except (ValueError, RuntimeError) as exc:  # local mode raises these for bad requests / closed client
            raise StoreError(f"Qdrant {operation} failed: {exc}") from exc

    # --- VectorStore
    def ping(self) -> None:
        self._call("ping", self._client.get_collection, self.collection)

    def upsert(self, points: Sequence[VectorPoint]) -> None:
        if not points:
            return
        batch = [models.PointStruct(id=p.id, vector=list(p.vector or []), payload=p.payload) for p in points]
        self._call("upsert", self._client.upsert, self.collection, batch, wait=True)

    def search(
        self, vector: Sequence[float], limit: int, where: MemoryFilter, *, with_payload: bool = False
    ) -> list[VectorHit]:
        response = self._call(
            "query",
            self._client.query_points,
            self.collection,
            query=list(vector),
            query_filter=to_client_filter(where),
            limit=limit,
            with_payload=with_payload,
            search_params=self._search_params,
        )
        return [VectorHit(str(p.id), float(p.score), dict(p.payload or {})) for p in response.points]

    def search_batch(
        self, vectors: Sequence[Sequence[float]], limit: int, where: MemoryFilter
    ) -> list[list[VectorHit]]:
        if not vectors:
            return []
        condition = to_client_filter(where)
        requests = [
            models.QueryRequest(query=list(v), filter=condition, limit=limit, params=self._search_params)
            for v in vectors
        ]
        responses = self._call("query batch", self._client.query_batch_points, self.collection, requests)
        return [[VectorHit(str(p.id), float(p.score)) for p in response.points] for response in responses]

    def similarities(self, vector: Sequence[float], ids: Sequence[str]) -> dict[str, float]:
        if not ids:
            return {}
        response = self._call(
            "query",
            self._client.query_points,
            self.collection,
            query=list(vector),
            query_filter=models.Filter(must=[models.HasIdCondition(has_id=list(ids))]),
            limit=len(ids),
            with_payload=False,
        )
        return {str(p.id): float(p.score) for p in response.points}

    def retrieve(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[VectorPoint]:
        if not ids:
            return []
        records = self._call(
            "retrieve", self._client.retrieve, self.collection, list(ids), with_payload=True, with_vectors=with_vectors
        )
        return [
            VectorPoint(
                str(r.id), list(r.vector) if with_vectors and r.vector is not None else None, dict(r.payload or {})
            )
            for r in records
        ]

    def set_payloads(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        present = {p.id for p in self.retrieve([point_id for point_id, _ in items])}
        operations = [
            models.SetPayloadOperation(set_payload=models.SetPayload(payload=fields, points=[point_id]))
            for point_id, fields in items
            if point_id in present
        ]
        if operations:
            self._call("set payload", self._client.batch_update_points, self.collection, operations, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._call("delete", self._client.delete, self.collection, models.PointIdsList(points=list(ids)), wait=True)

    def count(self) -> int:
        return int(self._call("count", self._client.count, self.collection, exact=True).count)

    def iter_ids(self, page_size: int = 1000) -> Iterator[str]:
        offset: Any = None
        while True:
            records, offset = self._call(
                "scroll",
                self._client.scroll,
                self.collection,
                limit=page_size,
                offset=offset,
                with_payload=False,
                with_vectors=False,
            )
            for record in records:
                yield str(record.id)
            if offset is None:
                return

    def maintain(self) -> bool:
        """A Qdrant server optimises on its own."""
        return False

    def close(self) -> None:
        self._client.close()


def to_client_filter(where: MemoryFilter) -> models.Filter | None:
    """A MemoryFilter as a qdrant-client Filter (mirrors `qdrant_embedded.to_edge_filter`)."""
    must: list[Any] = []
    must_not: list[Any] = []
    if where.tags:
        if where.tag_mode is TagMode.ALL:
            must += [models.FieldCondition(key=where.tag_field, match=models.MatchValue(value=t)) for t in where.tags]
        else:
            must.append(models.FieldCondition(key=where.tag_field, match=models.MatchAny(any=list(where.tags))))
    if where.exclude_tags:
        must_not.append(models.FieldCondition(key="tag_prefixes", match=models.MatchAny(any=list(where.exclude_tags))))
    if where.excluded_types:
        must_not.append(models.FieldCondition(key="type", match=models.MatchAny(any=list(where.excluded_types))))
    if where.types:
        must.append(models.FieldCondition(key="type", match=models.MatchAny(any=list(where.types))))
    # no condition on importance: a payload's can lag below the record's (MemoryFilter.min_importance)
    if where.start or where.end:
        bounds = models.DatetimeRange(gte=_moment(where.start), lte=_moment(where.end))
        must.append(models.FieldCondition(key="timestamp", range=bounds))
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)


def _moment(stamp: str | None) -> datetime | None:
    """A filter bound (stored ISO form) as the datetime DatetimeRange takes."""
    return parse_timestamp(stamp) if stamp else None
