"""`python -m loci migrate --from URL`: a local HTTP server plays a running AutoMem (its /recall, /graph/snapshot
and /backup as the contract describes them; AutoMem itself cannot run here). Everything moves, once, through
the restore path, whether through the backup (admin token) or the API (windows of recall), and a rerun resumes."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from loci.cli import main
from loci.services import Services
from tests.test_backup import ADMIN, serve, vector

SOURCE_TOKEN, SOURCE_ADMIN = "automem-api", "automem-admin"
COUNT = 260
"""More than two full recall windows of AutoMem's 100, with several memories on one day."""


def automem_data() -> tuple[list[dict[str, Any]], list[tuple[int, str, int]]]:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    memories = [
        {
            "id": str(uuid.uuid4()),
            "content": f"AutoMem memory {n} about topic {n % 7}",
            "timestamp": (start + timedelta(hours=n // 3)).isoformat(),
            "importance": (n % 10) / 10,
            "tags": [f"topic/{n % 7}"],
            "tag_prefixes": ["topic", f"topic:{n % 7}"],
            "type": "Context",
            "confidence": 0.6,
            "metadata": json.dumps({"n": n}),
            "processed": n % 2 == 0,
        }
        for n in range(COUNT)
    ]
    edges = [(n, "RELATES_TO", n + 1) for n in range(0, COUNT - 1, 5)] + [(3, "SHARES_THEME", 4)]
    return memories, edges


class AutoMem(BaseHTTPRequestHandler):
    """GET /recall (query-less: the window's most important, at most `limit`), /graph/snapshot, /backup."""

    memories: list[dict[str, Any]]
    edges: list[tuple[int, str, int]]
    requests: list[str]

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.requests.append(url.path)
        if url.path == "/backup":
            if self.headers.get("X-Admin-Token") != SOURCE_ADMIN:
                return self._json(401, {"status": "error", "code": 401, "message": "Admin authorization required"})
            return self._send(200, self._archive(), "application/gzip")
        if self.headers.get("Authorization") != f"Bearer {SOURCE_TOKEN}":
            return self._json(401, {"status": "error", "code": 401, "message": "Unauthorized"})
        if url.path == "/recall":
            return self._json(200, self._recall(query))
        if url.path == "/graph/snapshot":
            nodes = [{"id": m["id"], "content": m["content"]} for m in self.memories]
            edges = [
                {"id": f"{self.memories[a]['id']}-{kind}-{self.memories[b]['id']}", "source": self.memories[a]["id"],
                 "target": self.memories[b]["id"], "type": kind, "strength": 0.7, "properties": {}}
                for a, kind, b in self.edges
            ]  # fmt: skip
            stats = {"total_nodes": len(nodes), "returned_nodes": len(nodes), "sampled": False}
            return self._json(200, {"nodes": nodes, "edges": edges, "stats": stats})
        return self._json(404, {"status": "error", "code": 404, "message": "Not Found"})

    def _recall(self, query: dict[str, str]) -> dict[str, Any]:
        low, high = datetime.fromisoformat(query["start"]), datetime.fromisoformat(query["end"])
        limit = min(int(query.get("limit", 5)), 100)
        inside = [m for m in self.memories if low <= datetime.fromisoformat(m["timestamp"]) <= high]
        chosen = sorted(inside, key=lambda m: (-m["importance"], m["timestamp"]))[:limit]  # "trending"
        chosen.sort(key=lambda m: m["timestamp"])
        results = [{"id": m["id"], "match_type": "trending", "source": "graph", "memory": m} for m in chosen]
        return {"status": "success", "results": results, "count": len(results)}

    def _archive(self) -> bytes:
        stamp = "20250102_030405"
        nodes = [{"id": i, "labels": ["Memory"], "properties": m} for i, m in enumerate(self.memories)]
        rels = [
            {"source_id": a, "type": kind, "target_id": b, "properties": {"strength": 0.7}} for a, kind, b in self.edges
        ]
        points = [
            {"id": m["id"], "vector": vector(i), "payload": {"content": m["content"]}}
            for i, m in enumerate(self.memories)
        ]
        members = {
            f"falkordb/falkordb_{stamp}.json.gz": {"timestamp": stamp, "graph_name": "memories", "nodes": nodes,
                                                   "relationships": rels, "stats": {}},
            f"qdrant/qdrant_{stamp}.json.gz": {"timestamp": stamp, "collection_name": "memories", "points": points,
                                               "stats": {"points_count": len(points), "vector_size": 384}},
        }  # fmt: skip
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as archive:
            for name, body in members.items():
                data = gzip.compress(json.dumps(body, indent=2).encode())
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        return out.getvalue()

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, data: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def automem() -> Iterator[tuple[str, type[AutoMem]]]:
    memories, edges = automem_data()
    handler = type("Source", (AutoMem,), {"memories": memories, "edges": edges, "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def migrate(source: str, target: str, work: Path, *extra: str) -> int:
    return main(
        ["migrate", "--from", source, "--token", SOURCE_TOKEN, "--to", target, "--loci-admin-token", ADMIN,
         "--dir", str(work), *extra]
    )  # fmt: skip


def test_migrate_through_the_api_moves_every_memory_and_edge(
    make_app: Callable[..., Flask],
    automem: tuple[str, type[AutoMem]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, source = automem
    target = make_app(admin_token=ADMIN)
    with serve(target) as loci_url:
        assert migrate(url, loci_url, tmp_path) == 0
    out = capsys.readouterr().out
    assert source.requests.count("/recall") > 3  # windows that came back full were split
    assert f"memories restored: {COUNT} (0 with their vectors, {COUNT} to embed again)" in out
    assert "the API does not expose them" in out
    svc: Services = target.extensions["loci"]
    moved = svc.graph.memories.get_many([m["id"] for m in source.memories])
    assert len(moved) == COUNT
    first = source.memories[0]
    assert moved[first["id"]].metadata == {"n": 0} and moved[first["id"]].timestamp == first["timestamp"]
    kinds = [row[0] for row in svc.graph.query("MATCH ()-[r]->() RETURN type(r)", read_only=True)]
    assert len(kinds) == len(source.edges) and "DISCOVERED" in kinds  # SHARES_THEME read as DISCOVERED


def test_migrate_with_the_admin_token_takes_the_backup_with_vectors_and_resumes(
    make_app: Callable[..., Flask],
    automem: tuple[str, type[AutoMem]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, source = automem
    target = make_app(admin_token=ADMIN)
    with serve(target) as loci_url:
        assert migrate(url, loci_url, tmp_path, "--admin-token", SOURCE_ADMIN) == 0
        assert f"memories restored: {COUNT} ({COUNT} with their vectors, 0 to embed again)" in capsys.readouterr().out
        assert source.requests == ["/backup"]
        # run again: the fetched file and the log are there, so nothing is fetched or written twice
        assert migrate(url, loci_url, tmp_path, "--admin-token", SOURCE_ADMIN) == 0
    out = capsys.readouterr().out
    assert source.requests == ["/backup"] and "fetched earlier" in out
    assert target.extensions["loci"].graph.memories.count() == COUNT


def test_migrate_says_why_it_cannot_read_the_source(
    make_app: Callable[..., Flask],
    automem: tuple[str, type[AutoMem]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = automem
    target = make_app(admin_token=ADMIN)
    with serve(target) as loci_url:
        status = main(["migrate", "--from", url, "--token", "wrong", "--to", loci_url, "--dir", str(tmp_path)])
    assert status == 2
    assert "GET /recall on the source: HTTP 401: Unauthorized" in capsys.readouterr().err
    assert target.extensions["loci"].graph.memories.count() == 0
