"""GraphConnection and QueryGroup: the FalkorDB connection, its schema, and the base of every query group.

Connection failures become `GraphUnavailable`, a server that does not answer within the
call's deadline (LOCI_GRAPH_TIMEOUT_SECONDS) `StoreTimeout`: both 503 with Retry-After at
the API. A query the server rejects is a `StoreError` (500). Nothing retries on its own: a
write whose answer was lost may have landed, and only the caller knows how to settle that.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import redis
from falkordb import FalkorDB

from loci.diskspace import disk_refusal
from loci.errors import GraphUnavailable, StoreError, StoreTimeout, StoreUnavailable

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
"""Rows per page for every full scan (well under FalkorDB's result-set cap)."""

_SCHEMA = (
    "CREATE INDEX FOR (m:Memory) ON (m.id)",
    "CREATE INDEX FOR (m:Memory) ON (m.embedding_status)",
    "CREATE INDEX FOR (m:Memory) ON (m.enrichment_status)",
    "CREATE INDEX FOR (m:Memory) ON (m.timestamp_epoch)",
    "CREATE INDEX FOR (m:Memory) ON (m.type)",
    "CREATE INDEX FOR (p:Pattern) ON (p.id)",
    "CREATE INDEX FOR (e:Entity) ON (e.id)",
    "CREATE INDEX FOR (e:Entity) ON (e.slug)",
    "CREATE INDEX FOR (m:Memory) ON (m.tag_keys)",
    "CALL db.idx.fulltext.createNodeIndex('Memory', 'content')",
)


class GraphConnection:
    """One FalkorDB graph: the connection, its schema, and the single place a query is sent."""

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
        self._where = f"FalkorDB at {host}:{port}"
        self._reachable = True
        self._reachability = threading.Lock()

    def query(self, cypher: str, params: dict[str, Any] | None = None, *, read_only: bool = False) -> list[list[Any]]:
        """Run one Cypher statement and return its rows, with failures mapped to Loci's errors."""
        try:
            run = self._graph.ro_query if read_only else self._graph.query
            result = run(cypher, params)
        except redis.exceptions.TimeoutError as exc:
            raise self._unreachable(StoreTimeout(f"{self._where} did not answer in time: {exc}")) from exc
        except redis.exceptions.ConnectionError as exc:
            raise self._unreachable(GraphUnavailable(f"{self._where} is unreachable: {exc}")) from exc
        except redis.exceptions.ResponseError as exc:
            raise disk_refusal(exc, "FalkorDB") or StoreError(f"FalkorDB rejected a query: {exc}") from exc
        if not self._reachable:
            self._note_reachable(True, None)
        return result.result_set

    def ping(self) -> None:
        """Raise GraphUnavailable unless the server answers."""
        try:
            self._db.connection.ping()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise self._unreachable(GraphUnavailable(f"{self._where} is unreachable: {exc}")) from exc
        if not self._reachable:
            self._note_reachable(True, None)

    def _unreachable(self, error: StoreUnavailable) -> StoreUnavailable:
        if self._reachable:
            self._note_reachable(False, error.message)
        return error

    def _note_reachable(self, reachable: bool, error: str | None) -> None:
        """One log line when FalkorDB stops or starts answering (requests meeting an outage log nothing)."""
        with self._reachability:
            if self._reachable == reachable:
                return
            self._reachable = reachable
        where = {"host": self.host, "port": self.port, "graph": self.graph_name}
        if reachable:
            log.info("FalkorDB answers again", extra={"event": "falkordb.reachable", **where})
        else:
            log.warning("FalkorDB is not answering", extra={"event": "falkordb.unreachable", **where, "error": error})

    def ensure_schema(self) -> None:
        """Create the indexes Loci relies on; existing ones are left as they are."""
        for statement in _SCHEMA:
            try:
                self.query(statement)
            except StoreError as exc:
                if "already indexed" not in str(exc):
                    raise

    def graph_names(self) -> list[str]:
        """Every graph on the server (namespaces are graphs: loci/namespaces.py)."""
        try:
            return [name.decode() if isinstance(name, bytes) else str(name) for name in self._db.list_graphs()]
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise self._unreachable(GraphUnavailable(f"{self._where} is unreachable: {exc}")) from exc

    def delete_graph(self) -> None:
        """Delete this whole graph: every node, edge and index (dropping a namespace)."""
        try:
            self._graph.delete()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise self._unreachable(GraphUnavailable(f"{self._where} is unreachable: {exc}")) from exc
        except redis.exceptions.ResponseError as exc:
            if "empty key" not in str(exc).lower() and "invalid graph" not in str(exc).lower():
                raise StoreError(f"FalkorDB could not delete graph {self.graph_name}: {exc}") from exc

    @property
    def redis(self) -> redis.Redis:
        """The server's key-value side (FalkorDB is a Redis module), for short-lived keys."""
        return self._db.connection

    def close(self) -> None:
        self._db.connection.close()


class QueryGroup:
    """The queries of one concern, sent through a shared connection.

    Callers hold the group they need (`graph.memories`, `graph.relations`, ...), so each
    one says which part of the graph it reads or writes.
    """

    def __init__(self, connection: GraphConnection) -> None:
        self._connection = connection

    def _query(self, cypher: str, params: dict[str, Any] | None = None, *, read_only: bool = False) -> list[list[Any]]:
        return self._connection.query(cypher, params, read_only=read_only)


def pages(ids: Iterable[str], size: int = PAGE_SIZE) -> Iterator[list[str]]:
    """Consecutive lists of at most `size` ids (for batched writes after a paged scan)."""
    page: list[str] = []
    for memory_id in ids:
        page.append(memory_id)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page
