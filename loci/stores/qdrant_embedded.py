"""EmbeddedQdrantStore: the Qdrant engine in-process (qdrant-edge), no server needed.

One shard directory under `LOCI_DATA_DIR/qdrant/<collection>` holds the segments and the
write-ahead log; only one process may open it at a time. HNSW indexes are built by
`optimize()`, which the embedding worker calls when it is idle (`maintain`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from loci.diskspace import DiskGuard, disk_refusal, disk_usage
from loci.errors import StoreError, VectorStoreUnavailable
from loci.stores.filters import MemoryFilter, TagMode
from loci.stores.vectors import KEYWORD_INDEXES, VectorHit, VectorPoint, resolve_dimension

log = logging.getLogger(__name__)

OPTIMIZE_AFTER_WRITES = 5000
"""Rebuild indexes once this many points were written since the last optimisation."""
ROOM_RECHECK_SECONDS = 30.0
"""After finding no room for an optimisation, how long before the shard's size is measured again."""


class EmbeddedQdrantStore:
    """VectorStore over one qdrant-edge shard."""

    kind = "embedded"
    on_graph = False

    def __init__(
        self,
        path: Path,
        dimension: int,
        autodetect: bool = True,
        disk: DiskGuard | None = None,
        exact: bool = False,
    ) -> None:
        self.path = Path(path)
        self._search_params = qe.SearchParams(exact=True) if exact else None
        """With `exact`, searches compare every vector (LOCI_EXACT_VECTOR_SEARCH) instead of the HNSW index."""
        self.disk = disk
        """With a guard, `maintain` only optimises with room to spare above LOCI_MIN_FREE_BYTES."""
        self._room_checked_at = -ROOM_RECHECK_SECONDS
        self._state = threading.Condition()
        self._closed = False
        self._active = 0  # calls under way; close() waits for them
        self._writes_since_optimize = 0
        existing = self._existing_dimension()
        self.dimension = resolve_dimension(dimension, existing, autodetect, f"embedded Qdrant at {self.path}")
        try:
            if existing is None:
                self.path.mkdir(parents=True, exist_ok=True)
                config = qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=self.dimension, distance=qe.Distance.Cosine))
                self._shard = qe.EdgeShard.create(str(self.path), config)
            else:
                self._shard = qe.EdgeShard.load(str(self.path))
            self._ensure_indexes()
        except Exception as exc:  # qdrant-edge raises plain Exception
            raise StoreError(f"cannot open embedded Qdrant at {self.path}: {exc}") from exc

    def _existing_dimension(self) -> int | None:
        config_file = self.path / "edge_config.json"
        if not config_file.exists():
            return None
        vectors = json.loads(config_file.read_text()).get("vectors", {})
        default = vectors.get("")
        return int(default["size"]) if default else None

    def _ensure_indexes(self) -> None:
        present = set(self._shard.info().payload_schema)
        wanted: dict[str, Any] = {name: qe.PayloadSchemaType.Keyword for name in KEYWORD_INDEXES}
        wanted["timestamp"] = qe.PayloadSchemaType.Datetime
        for name, schema in wanted.items():
            if name not in present:
                self._shard.update(qe.UpdateOperation.create_field_index(name, schema))

    def _call(self, operation: str, fn: Any, *args: Any) -> Any:
        with self._state:
            if self._closed:
                raise VectorStoreUnavailable("embedded Qdrant is closed")
            self._active += 1
        try:
            return fn(*args)
        except Exception as exc:  # qdrant-edge raises plain Exception
            refusal = disk_refusal(exc, f"embedded Qdrant ({operation})")
            raise refusal or StoreError(f"embedded Qdrant {operation} failed: {exc}") from exc
        finally:
            with self._state:
                self._active -= 1
                self._state.notify_all()

    # --- VectorStore
    def ping(self) -> None:
        self._call("info", self._shard.info)

    def upsert(self, points: Sequence[VectorPoint]) -> None:
        if not points:
            return
        batch = [qe.Point(id=p.id, vector=list(p.vector or []), payload=p.payload) for p in points]
        self._call("upsert", self._shard.update, qe.UpdateOperation.upsert_points(batch))
        self._writes_since_optimize += len(points)

    def search(
        self, vector: Sequence[float], limit: int, where: MemoryFilter, *, with_payload: bool = False
    ) -> list[VectorHit]:
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(list(vector)),
            filter=to_edge_filter(where),
            with_payload=with_payload,
            params=self._search_params,
        )
        found = self._call("query", self._shard.query, request)
        return [VectorHit(str(p.id), float(p.score), dict(p.payload or {})) for p in found]

    def search_batch(
        self, vectors: Sequence[Sequence[float]], limit: int, where: MemoryFilter
    ) -> list[list[VectorHit]]:
        if not vectors:
            return []
        condition = to_edge_filter(where)
        requests = [
            qe.QueryRequest(
                limit=limit,
                query=qe.Query.Nearest(list(v)),
                filter=condition,
                with_payload=False,
                params=self._search_params,
            )
            for v in vectors
        ]
        found = self._call("query batch", self._shard.query_batch, qe.QueryBatchRequest(requests))
        return [[VectorHit(str(p.id), float(p.score)) for p in hits] for hits in found]

    def similarities(self, vector: Sequence[float], ids: Sequence[str]) -> dict[str, float]:
        if not ids:
            return {}

        def query() -> Any:  # built inside `_call`, so an id the engine refuses is a StoreError like any other
            return self._shard.query(
                qe.QueryRequest(
                    limit=len(ids),
                    query=qe.Query.Nearest(list(vector)),
                    filter=qe.Filter(must=[qe.HasIdCondition(set(ids))]),
                    with_payload=False,
                )
            )

        return {str(p.id): float(p.score) for p in self._call("query", query)}

    def retrieve(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[VectorPoint]:
        if not ids:
            return []
        records = self._call("retrieve", self._shard.retrieve, list(ids), True, with_vectors)
        return [
            VectorPoint(
                str(r.id), list(r.vector) if with_vectors and r.vector is not None else None, dict(r.payload or {})
            )
            for r in records
        ]

    def set_payloads(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        present = {p.id for p in self.retrieve([point_id for point_id, _ in items])}
        for point_id, fields in items:
            if point_id not in present:
                continue
            try:
                self._call("set payload", self._shard.update, qe.UpdateOperation.set_payload([point_id], fields))
            except StoreError:  # deleted since the check above: nothing left to update
                log.debug(
                    "payload not set; point gone", extra={"event": "vectors.payload_skipped", "memory_id": point_id}
                )

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._call("delete", self._shard.update, qe.UpdateOperation.delete_points(list(ids)))

    def count(self) -> int:
        return int(self._call("count", self._shard.count, qe.CountRequest(exact=True)))

    def iter_ids(self, page_size: int = 1000) -> Iterator[str]:
        offset: Any = None
        while True:
            request = qe.ScrollRequest(offset=offset, limit=page_size, with_payload=False, with_vector=False)
            records, offset = self._call("scroll", self._shard.scroll, request)
            for record in records:
                yield str(record.id)
            if offset is None:
                return

    def maintain(self) -> bool:
        """Build indexes for recently written points if enough accumulated; True if it ran.

        Optimising writes new segments before it drops the old ones, so with a `disk` guard it
        waits until the free space above the reserve could hold a second copy of the shard.
        """
        if self._closed or self._writes_since_optimize < OPTIMIZE_AFTER_WRITES:
            return False
        if self.disk is not None and time.monotonic() < self._room_checked_at + ROOM_RECHECK_SECONDS:
            return False  # no room at the last look: measuring the shard walks its files, so not at every idle pass
        if self.disk is not None and not self.disk.has_room_for(disk_usage(self.path)):
            self._room_checked_at = time.monotonic()
            return False
        self._writes_since_optimize = 0
        self._call("optimize", self._shard.optimize)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new calls, wait for those under way, then flush and close the shard."""
        with self._state:
            if self._closed:
                return
            self._closed = True
            self._state.wait_for(lambda: self._active == 0, timeout)
            try:
                self._shard.flush()
            finally:
                self._shard.close()


def to_edge_filter(where: MemoryFilter) -> qe.Filter | None:
    """A MemoryFilter as a qdrant-edge Filter (mirrors `qdrant_server.to_client_filter`)."""
    must: list[Any] = []
    must_not: list[Any] = []
    if where.tags:
        if where.tag_mode is TagMode.ALL:
            must += [qe.FieldCondition(key=where.tag_field, match=qe.MatchValue(tag)) for tag in where.tags]
        else:
            must.append(qe.FieldCondition(key=where.tag_field, match=qe.MatchAny(list(where.tags))))
    if where.exclude_tags:
        must_not.append(qe.FieldCondition(key="tag_prefixes", match=qe.MatchAny(list(where.exclude_tags))))
    if where.excluded_types:
        must_not.append(qe.FieldCondition(key="type", match=qe.MatchAny(list(where.excluded_types))))
    if where.types:
        must.append(qe.FieldCondition(key="type", match=qe.MatchAny(list(where.types))))
    # no condition on importance: a payload's can lag below the record's (MemoryFilter.min_importance)
    if where.start or where.end:
        must.append(qe.FieldCondition(key="timestamp", range=qe.RangeDateTime(gte=where.start, lte=where.end)))
    if not must and not must_not:
        return None
    return qe.Filter(must=must or None, must_not=must_not or None)
