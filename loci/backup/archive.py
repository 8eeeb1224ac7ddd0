"""The backup archive `GET /backup` streams: a tar.gz in AutoMem's layout, built page by page.

Members (AutoMem's names and shapes, so its restore script reads ours and ours reads its):

    falkordb/falkordb_<ts>.json.gz  {timestamp, graph_name, nodes: [{id, labels, properties}],
                                     relationships: [{source_id, type, target_id, properties}], stats}
    qdrant/qdrant_<ts>.json.gz      {timestamp, collection_name, points: [{id, vector, payload}], stats}

Nothing holds the store in memory: each member's JSON is written a page at a time into a
gzip stream spooled to an anonymous temporary file (a tar header states its member's size
before the data, and that size is only known once the member is complete), then the file
is streamed out in chunks. Only one member is spooled at a time, and the files vanish when
closed, even if the process dies.

Consistency: the graph member is read from a point-in-time copy of the graph
(`GraphStore.backup.snapshot`), so a memory written during the backup is whole or absent and
every edge's ends are in the member. The vector store has no snapshot; its points are read
page by page and kept only when the copy holds their memory with the same content, so
the vector member never carries a point the graph member lacks or a vector of other text.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from loci.errors import InvalidRequest
from loci.model import content_hash
from loci.stores.graph import PAGE_SIZE, BackupQueries, Snapshot, pages
from loci.stores.vectors import VectorStore

log = logging.getLogger(__name__)

INCLUDES = ("falkordb", "qdrant")
CHUNK = 256 * 1024
"""Bytes per piece of the response."""
VECTOR_PAGE = 256
"""Points read (with their vectors) per vector-store call."""


def parse_include(raw: str | None) -> tuple[str, ...]:
    """`include`: a comma-separated subset of falkordb,qdrant (default both); anything else is a 400."""
    if raw is None:
        return INCLUDES
    parts = [part.strip().lower() for part in raw.split(",")]
    if any(not part or part not in INCLUDES for part in parts):
        raise InvalidRequest(
            f"Invalid 'include': must be a comma-separated subset of {','.join(INCLUDES)} (got {raw!r})",
            field="include",
        )
    return tuple(name for name in INCLUDES if name in parts)


def backup_timestamp(now: float | None = None) -> str:
    return time.strftime("%Y%m%d_%H%M%S", time.gmtime(now))


@dataclass
class BackupReport:
    """What one backup wrote; logged when it ends."""

    include: tuple[str, ...]
    timestamp: str
    nodes: int = 0
    relationships: int = 0
    points: int = 0
    points_skipped: int = 0
    """Vectors left out: their memory was not in the graph snapshot, or held other content."""
    bytes: int = 0
    snapshot: str = "none"
    """"copy" (a point-in-time copy of the graph), "live" (the server could not copy) or "none"."""
    members: dict[str, int] = field(default_factory=dict)


class BackupArchive:
    """One backup: `stream()` yields the gzip'd tar piece by piece; `report` says what it held."""

    def __init__(
        self,
        queries: BackupQueries,
        graph_name: str,
        vectors: VectorStore,
        collection_name: str,
        include: tuple[str, ...],
        spool_dir: Path | None = None,
        now: float | None = None,
    ) -> None:
        self.queries, self.graph_name, self.vectors = queries, graph_name, vectors
        self.collection_name, self.spool_dir = collection_name, spool_dir
        self.now = time.time() if now is None else now
        self.report = BackupReport(include, backup_timestamp(self.now))
        self.snapshot: Snapshot | None = None

    @property
    def filename(self) -> str:
        return f"loci-backup-{self.report.timestamp}.tar.gz"

    def start(self) -> None:
        """Take the graph snapshot (before the response starts, so a store failure is still a 503)."""
        self.snapshot = self.queries.snapshot()
        self.report.snapshot = "live" if self.snapshot.live else "copy"

    def stream(self) -> Iterator[bytes]:
        """The archive; a failure part-way ends the stream early (the client sees a truncated gzip)."""
        started = time.monotonic()
        outer = zlib.compressobj(1, zlib.DEFLATED, 31)  # the members are gzip'd already
        status = "failed"
        snapshot = self.snapshot
        try:
            if snapshot is None:
                raise RuntimeError("BackupArchive.start() was not called")
            for name in self.report.include:
                with self._spool() as spool:
                    member = self._write_member(name, snapshot, spool)
                    for piece in self._member_pieces(member, spool):
                        yield self._count(outer.compress(piece))
            yield self._count(outer.compress(b"\0" * (2 * tarfile.BLOCKSIZE)) + outer.flush())
            status = "complete"
        finally:
            if snapshot is not None:
                snapshot.close()
            log.info(
                "backup finished" if status == "complete" else "backup failed",
                extra={
                    "event": "backup.finished" if status == "complete" else "backup.failed",
                    "status": status,
                    "include": list(self.report.include),
                    "node_count": self.report.nodes,
                    "relationship_count": self.report.relationships,
                    "point_count": self.report.points,
                    "points_skipped": self.report.points_skipped,
                    "byte_count": self.report.bytes,
                    "snapshot": self.report.snapshot,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )

    def _count(self, data: bytes) -> bytes:
        self.report.bytes += len(data)
        return data

    def _spool(self) -> IO[bytes]:
        return tempfile.TemporaryFile(dir=self.spool_dir, prefix="loci-backup-")

    def _write_member(self, name: str, snapshot: Snapshot, spool: IO[bytes]) -> str:
        """Write one member's gzip'd JSON into `spool`; return its path in the archive."""
        with gzip.GzipFile(fileobj=spool, mode="wb", compresslevel=6, mtime=int(self.now)) as packed:
            out = io.TextIOWrapper(packed, encoding="utf-8", write_through=False)
            if name == "falkordb":
                self._write_graph(out, snapshot)
            else:
                self._write_vectors(out, snapshot)
            out.flush()
            out.detach()
        self.report.members[name] = spool.tell()
        return f"{name}/{name}_{self.report.timestamp}.json.gz"

    def _write_graph(self, out: io.TextIOWrapper, snapshot: Snapshot) -> None:
        head = {"timestamp": self.report.timestamp, "graph_name": self.graph_name}
        out.write(json.dumps(head)[:-1] + ', "nodes": [')
        for page in snapshot.node_pages():
            for node in page:
                item = {"id": node.id, "labels": node.labels, "properties": node.properties}
                out.write(("\n" if not self.report.nodes else ",\n") + _dumps(item))
                self.report.nodes += 1
        out.write('\n], "relationships": [')
        for edges in snapshot.edge_pages():
            for edge in edges:
                item = {
                    "source_id": edge.source_id,
                    "type": edge.type,
                    "target_id": edge.target_id,
                    "properties": edge.properties,
                }
                out.write(("\n" if not self.report.relationships else ",\n") + _dumps(item))
                self.report.relationships += 1
        stats = {"node_count": self.report.nodes, "relationship_count": self.report.relationships}
        out.write('\n], "stats": ' + json.dumps(stats) + "}\n")

    def _write_vectors(self, out: io.TextIOWrapper, snapshot: Snapshot) -> None:
        head = {"timestamp": self.report.timestamp, "collection_name": self.collection_name}
        out.write(json.dumps(head)[:-1] + ', "points": [')
        for ids in pages(self.vectors.iter_ids(PAGE_SIZE), VECTOR_PAGE):
            known = snapshot.content_hashes(ids)
            for point in self.vectors.retrieve(ids, with_vectors=True):
                text = point.payload.get("content")
                digest = known.get(point.id, "absent")
                if point.vector is None or digest == "absent" or (digest and content_hash(str(text)) != digest):
                    self.report.points_skipped += 1
                    continue
                item = {"id": point.id, "vector": point.vector, "payload": point.payload}
                out.write(("\n" if not self.report.points else ",\n") + _dumps(item))
                self.report.points += 1
        stats = {"points_count": self.report.points, "vector_size": self.vectors.dimension}
        out.write('\n], "stats": ' + json.dumps(stats) + "}\n")

    def _member_pieces(self, name: str, spool: IO[bytes]) -> Iterator[bytes]:
        """The tar header, the spooled data in chunks, the padding to a whole block."""
        size = spool.tell()
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, int(self.now), 0o644
        yield info.tobuf(format=tarfile.PAX_FORMAT)
        spool.seek(0)
        while chunk := spool.read(CHUNK):
            yield chunk
        if size % tarfile.BLOCKSIZE:
            yield b"\0" * (tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE)


def _dumps(item: dict[str, Any]) -> str:
    return json.dumps(item, ensure_ascii=False, default=str)


def key_fingerprint(token: str | None) -> str | None:
    """The first 12 hex digits of the admin token's sha256, for the audit line (as AutoMem logs it)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:12] if token else None
