"""GET /backup and `python -m loci restore`: the archive's layout, its point-in-time snapshot, restoring
Loci's and AutoMem's backups (ids, times, edges, vectors), refusals, damaged files, resuming, and
the 10,000-memory round trip through gunicorn with the same recall answers."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import random
import tarfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from loci.cli import main
from loci.model import StageStatus
from loci.services import Services
from tests.helpers import wait_until

ADMIN = "admin-secret"
DIM = 384
HEADERS = {"X-Admin-Token": ADMIN}


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """The app over real HTTP on a free loopback port (the restore client speaks HTTP)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def vector(seed: int, dim: int = DIM) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(-1, 1) for _ in range(dim)]


def fill(app: Flask, count: int = 4) -> list[str]:
    """`count` memories with vectors, a chain of edges, one tagged and with metadata."""
    client = app.test_client()
    items = [
        {
            "content": f"Fact number {n} about the deployment pipeline",
            "tags": ["project:loci", f"n{n}"],
            "metadata": {"n": n, "source": "test"},
            "timestamp": f"2024-01-0{1 + n % 9}T10:00:00+00:00",
            "embedding": vector(n),
            "importance": 0.3 + n / (2 * count),
        }
        for n in range(count)
    ]
    ids: list[str] = client.post("/memory/batch", json={"memories": items}).json["memory_ids"]
    for a, b in itertools.pairwise(ids):
        response = client.post("/associate", json={"memory1_id": a, "memory2_id": b, "type": "LEADS_TO"})
        assert response.status_code == 201
    return ids


def members(data: bytes) -> dict[str, Any]:
    """The archive's members, unpacked: name -> JSON."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {
            m.name: json.loads(gzip.decompress(archive.extractfile(m).read()))  # type: ignore[union-attr]
            for m in archive.getmembers()
        }


@pytest.fixture
def admin_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(admin_token=ADMIN)


def test_backup_streams_automem_layout(admin_app: Flask) -> None:
    ids = fill(admin_app)
    response = admin_app.test_client().get("/backup/", headers=HEADERS)
    assert response.status_code == 200
    assert response.mimetype == "application/gzip"
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="loci-backup-') and disposition.endswith('.tar.gz"')
    found = members(response.data)
    graph_name = next(n for n in found if n.startswith("falkordb/falkordb_"))
    vector_name = next(n for n in found if n.startswith("qdrant/qdrant_"))
    graph, vectors = found[graph_name], found[vector_name]
    assert graph["graph_name"] == admin_app.extensions["loci"].settings.falkordb_graph
    memories = {n["properties"]["id"]: n for n in graph["nodes"] if "Memory" in n["labels"]}
    assert set(memories) == set(ids)
    assert isinstance(memories[ids[0]]["properties"]["metadata"], str)  # a JSON string, as AutoMem stores it
    assert graph["stats"] == {"node_count": len(graph["nodes"]), "relationship_count": len(graph["relationships"])}
    internal = {n["id"]: n["properties"]["id"] for n in graph["nodes"]}
    edges = {(internal[r["source_id"]], r["type"], internal[r["target_id"]]) for r in graph["relationships"]}
    assert {(a, "LEADS_TO", b) for a, b in itertools.pairwise(ids)} <= edges
    assert {p["id"] for p in vectors["points"]} == set(ids)
    assert vectors["stats"] == {"points_count": len(ids), "vector_size": DIM}
    point = next(p for p in vectors["points"] if p["id"] == ids[1])
    assert len(point["vector"]) == DIM
    assert point["payload"]["content"] == "Fact number 1 about the deployment pipeline"


def test_backup_include_falkordb_only(admin_app: Flask) -> None:
    fill(admin_app, 2)
    response = admin_app.test_client().get("/backup?include=falkordb", headers=HEADERS)
    assert response.status_code == 200
    assert [name.split("/")[0] for name in members(response.data)] == ["falkordb"]


@pytest.mark.parametrize("include", ["", "falkordb,", "mysql", "falkordb,,qdrant", "qdrant,neo4j"])
def test_backup_bad_include_is_400_naming_include(admin_app: Flask, include: str) -> None:
    response = admin_app.test_client().get("/backup", query_string={"include": include}, headers=HEADERS)
    assert response.status_code == 400
    assert response.json["field"] == "include" and "include" in response.json["message"]


def test_backup_needs_the_admin_token_alone(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    unconfigured = make_app(api_token="api-secret")
    assert unconfigured.test_client().get("/backup", headers={"X-API-Key": "api-secret"}).status_code == 403
    app = make_app(
        api_token="api-secret",
        admin_token=ADMIN,
        falkordb_graph=f"test_{uuid.uuid4().hex[:12]}",
        data_dir=tmp_path / "t",
    )
    client = app.test_client()
    assert client.get("/backup", headers={"X-API-Key": "api-secret"}).status_code == 401  # API token only
    assert client.get("/backup", headers={"X-Admin-Token": "wrong"}).status_code == 401
    assert client.get("/backup", headers=HEADERS).status_code == 200  # no API token needed, as in AutoMem


def test_backup_reads_a_point_in_time_copy(admin_app: Flask) -> None:
    """What is written or deleted after the snapshot is taken is not in the backup, and the copy goes away."""
    svc: Services = admin_app.extensions["loci"]
    ids = fill(admin_app, 3)
    snapshot = svc.graph.backup.snapshot()
    assert not snapshot.live
    admin_app.test_client().delete(f"/memory/{ids[0]}")
    fill(admin_app, 2)
    seen = [n.properties["id"] for page in snapshot.node_pages() for n in page if "Memory" in n.labels]
    assert sorted(seen) == sorted(ids)
    snapshot.close()
    assert snapshot.copy_name is not None and not svc.graph.redis.exists(snapshot.copy_name)


def backup_file(app: Flask, path: Path, include: str = "falkordb,qdrant") -> Path:
    response = app.test_client().get("/backup", query_string={"include": include}, headers=HEADERS)
    assert response.status_code == 200
    path.write_bytes(response.data)
    return path


def restore(url: str, path: Path, *extra: str) -> int:
    return main(["restore", str(path), "--url", url, "--admin-token", ADMIN, *extra])


def test_restore_keeps_ids_times_edges_and_vectors(
    make_app: Callable[..., Flask], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_app(admin_token=ADMIN)
    ids = fill(source, 6)
    path = backup_file(source, tmp_path / "backup.tar.gz")
    target = make_app(admin_token=ADMIN, falkordb_graph=f"test_{uuid.uuid4().hex[:12]}", data_dir=tmp_path / "t")
    with serve(target) as url:
        assert restore(url, path) == 0
    out = capsys.readouterr().out
    assert "memories restored: 6 (6 with their vectors, 0 to embed again)" in out
    before = source.extensions["loci"].graph.memories.get_many(ids)
    svc: Services = target.extensions["loci"]
    after = svc.graph.memories.get_many(ids)
    for memory_id in ids:
        old, new = before[memory_id], after[memory_id]
        assert (new.content, new.timestamp, new.tags, new.metadata) == (
            old.content,
            old.timestamp,
            old.tags,
            old.metadata,
        )
        assert new.embedding_status is StageStatus.COMPLETED
    assert svc.embedding_queue.stats().pending == 0  # nothing to embed again
    points = {p.id: p for p in svc.vectors.retrieve(ids, with_vectors=True)}
    stored = source.extensions["loci"].vectors.retrieve([ids[2]], with_vectors=True)[0].vector
    assert points[ids[2]].vector == pytest.approx(stored, abs=1e-6)
    related = target.test_client().get(f"/memories/{ids[0]}/related").json
    assert [m["id"] for m in related["related_memories"]] == [ids[1]]


def test_restore_refuses_a_store_with_memories_unless_merge(
    make_app: Callable[..., Flask], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_app(admin_token=ADMIN)
    ids = fill(source, 3)
    path = backup_file(source, tmp_path / "backup.tar.gz")
    target = make_app(admin_token=ADMIN, falkordb_graph=f"test_{uuid.uuid4().hex[:12]}", data_dir=tmp_path / "t")
    own = fill(target, 1)
    with serve(target) as url:
        assert restore(url, path) == 2
        assert "already holds 1 memories" in capsys.readouterr().err
        assert target.extensions["loci"].graph.memories.count() == 1
        assert restore(url, path, "--merge", "--restart") == 0
    assert set(target.extensions["loci"].graph.memories.iter_ids()) == {*ids, *own}


def test_restore_resumes_after_the_last_logged_page(
    make_app: Callable[..., Flask], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import loci.restore

    source = make_app(admin_token=ADMIN)
    fill(source, 7)
    path = backup_file(source, tmp_path / "backup.tar.gz")
    target = make_app(admin_token=ADMIN, falkordb_graph=f"test_{uuid.uuid4().hex[:12]}", data_dir=tmp_path / "t")
    journal = tmp_path / "backup.tar.gz.restore-log"
    with serve(target) as url:
        original = loci.restore.PAGE_ITEMS
        loci.restore.PAGE_ITEMS = 3  # several pages from a small file
        try:
            assert restore(url, path) == 0
            lines = journal.read_text().splitlines()
            assert len(lines) >= 4
            journal.write_text("\n".join(lines[:2]) + "\n")  # as if it died after the first page
            capsys.readouterr()
            assert restore(url, path) == 0
        finally:
            loci.restore.PAGE_ITEMS = original
    out = capsys.readouterr().out
    assert "memories restored: 7 (7 with their vectors" in out  # page 1 from the log, the rest sent again
    assert journal.read_text().splitlines()[:2] == lines[:2] and len(journal.read_text().splitlines()) == len(lines)
    assert target.extensions["loci"].graph.memories.count() == 7


def test_a_damaged_backup_is_refused_and_nothing_is_written(
    make_app: Callable[..., Flask], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_app(admin_token=ADMIN)
    fill(source, 5)
    whole = backup_file(source, tmp_path / "backup.tar.gz").read_bytes()
    target = make_app(admin_token=ADMIN, falkordb_graph=f"test_{uuid.uuid4().hex[:12]}", data_dir=tmp_path / "t")
    flipped = bytearray(whole)
    flipped[len(whole) // 2] ^= 0xFF
    with serve(target) as url:
        for name, data in (("cut.tar.gz", whole[: len(whole) * 2 // 3]), ("flipped.tar.gz", bytes(flipped))):
            (tmp_path / name).write_bytes(data)
            assert restore(url, tmp_path / name) == 2
            assert "error:" in capsys.readouterr().err
        assert target.extensions["loci"].graph.memories.count() == 0


def automem_archive(path: Path, nodes: list[dict[str, Any]], edges: list[dict[str, Any]], points: list[Any]) -> Path:
    """A backup as AutoMem's GET /backup writes it (indented JSON, gzip'd members in a tar.gz)."""
    stamp = "20250101_120000"
    graph = {"timestamp": stamp, "graph_name": "memories", "nodes": nodes, "relationships": edges,
             "stats": {"node_count": len(nodes), "relationship_count": len(edges)}}  # fmt: skip
    vectors = {"timestamp": stamp, "collection_name": "memories", "points": points,
               "stats": {"points_count": len(points), "vector_size": 1024}}  # fmt: skip
    with tarfile.open(path, "w:gz") as archive:
        for name, body in ((f"falkordb/falkordb_{stamp}.json.gz", graph), (f"qdrant/qdrant_{stamp}.json.gz", vectors)):
            data = gzip.compress(json.dumps(body, indent=2).encode())
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def automem_memory(internal: int, memory_id: str, content: str, **props: Any) -> dict[str, Any]:
    properties = {
        "id": memory_id, "content": content, "timestamp": "2024-03-01T09:00:00+00:00", "importance": 0.7,
        "tags": ["Project/Apollo", "entity:tools:redis"], "tag_prefixes": ["project", "project:apollo"],
        "type": "Decision", "confidence": 0.9, "t_valid": "2024-03-01T09:00:00+00:00", "t_invalid": None,
        "updated_at": "2024-03-02T09:00:00+00:00", "last_accessed": "2024-03-03T09:00:00+00:00",
        "metadata": json.dumps({"entities": {"tools": ["Redis"]}, "source": "cli"}),
        "processed": True, "enriched": True, "enriched_at": "2024-03-01T09:01:00+00:00", **props,
    }  # fmt: skip
    return {"id": internal, "labels": ["Memory"], "properties": properties}


def test_restore_reads_an_automem_backup(
    make_app: Callable[..., Flask], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    nodes = [
        automem_memory(0, a, "We chose Redis for the job queue."),
        automem_memory(1, b, "Redis replaced RabbitMQ.", processed=False, enriched=False),
        automem_memory(2, c, "A memory whose vector is 1024 wide", type="Insight"),
        {
            "id": 3,
            "labels": ["Pattern"],
            "properties": {"id": "pattern-decision", "type": "Decision", "confidence": 0.4},
        },
        {"id": 4, "labels": ["Memory", "MetaMemory"], "properties": {"id": str(uuid.uuid4()), "content": "Meta"}},
        {"id": 5, "labels": ["ConsolidationRun"], "properties": {"id": "run-1", "mode": "decay"}},
        automem_memory(6, "not-a-uuid", "A memory with a broken id"),
        automem_memory(7, str(uuid.uuid4()), "Importance out of range", importance=7),
    ]
    edges = [
        {"source_id": 1, "type": "EVOLVED_INTO", "target_id": 0, "properties": {"strength": 0.8, "reason": "moved"}},
        {"source_id": 0, "type": "EXPLAINS", "target_id": 2, "properties": {"confidence": 0.5}},
        {"source_id": 0, "type": "EXEMPLIFIES", "target_id": 3, "properties": {"confidence": 0.4}},
        {"source_id": 4, "type": "SUMMARIZES", "target_id": 0, "properties": {}},
    ]
    points = [
        {"id": a, "vector": vector(10), "payload": {"content": "We chose Redis for the job queue."}},
        {"id": b, "vector": vector(11), "payload": {"content": "Redis replaced RabbitMQ."}},
        {"id": c, "vector": vector(12, 1024), "payload": {"content": "A memory whose vector is 1024 wide"}},
    ]
    path = automem_archive(tmp_path / "automem-backup-20250101_120000.tar.gz", nodes, edges, points)
    target = make_app(admin_token=ADMIN)
    with serve(target) as url:
        assert restore(url, path) == 1  # some things were skipped: said so
    out = capsys.readouterr().out
    assert "memories restored: 3 (2 with their vectors, 1 to embed again)" in out
    assert "cluster summary" in out and "node not restored: ConsolidationRun" in out
    assert "memory whose id is not a UUID" in out and "importance" in out
    svc: Services = target.extensions["loci"]
    found = svc.graph.memories.get_many([a, b, c])
    assert found[a].metadata == {"entities": {"tools": ["Redis"]}, "source": "cli"}
    assert found[a].tags == ["Project/Apollo", "entity:tools:redis"]
    assert (found[a].timestamp, found[a].updated_at) == ("2024-03-01T09:00:00+00:00", "2024-03-02T09:00:00+00:00")
    assert found[a].enrichment_status is StageStatus.COMPLETED  # processed in AutoMem: not enriched again
    assert found[b].enrichment_status is StageStatus.PENDING
    assert found[a].embedding_status is StageStatus.COMPLETED
    assert found[c].embedding_status is StageStatus.PENDING  # 1024 wide: embedded again by the worker
    kinds = {row[0]: row[1] for row in svc.graph.query(
        "MATCH (a)-[r]->(b) RETURN type(r), properties(r)", read_only=True)}  # fmt: skip
    assert kinds["EVOLVED_INTO"]["reason"] == "moved"
    assert kinds["DISCOVERED"]["kind"] == "explains"  # a legacy name, read as DISCOVERED
    assert "EXEMPLIFIES" in kinds and "SUMMARIZES" not in kinds
    wait_until(lambda: svc.embedding_queue.stats().pending >= 1, 5, what="the 1024-wide memory queued")


def test_a_hostile_restore_page_is_a_400_naming_the_item(admin_app: Flask) -> None:
    client = admin_app.test_client()
    bad_pages = [
        ({"memories": [{"id": str(uuid.uuid4()), "content": "x", "metadata": "[1]"}]}, "memories[0].metadata"),
        ({"memories": [{"id": "nope", "content": "x"}]}, "memories[0].id"),
        ({"memories": [{"id": str(uuid.uuid4()), "content": "x", "vector": [1, "a"]}]}, "memories[0].vector"),
        ({"nodes": [{"label": "Secret", "properties": {"id": "x"}}]}, "nodes[0].label"),
        ({"nodes": [{"label": "Entity", "properties": {"id": "x", "deep": {"a": 1}}}]}, "nodes[0].properties"),
        ({"edges": [{"type": "DROP", "source": str(uuid.uuid4()), "target": str(uuid.uuid4())}]}, "edges[0].type"),
        ({"memories": [{"id": str(uuid.uuid4()), "content": "x", "timestamp": "yesterday"}]}, "memories[0].timestamp"),
    ]
    for body, field in bad_pages:
        response = client.post("/admin/restore", json=body, headers=HEADERS)
        assert response.status_code == 400, body
        assert response.json["field"] == field
    assert admin_app.extensions["loci"].graph.memories.count() == 0
    assert client.post("/admin/restore", json={"memories": []}).status_code == 401


@pytest.mark.slow
def test_round_trip_of_10000_memories_through_gunicorn(tmp_path: Path) -> None:
    """Backup of 10,000 memories with edges and vectors, restored into a fresh service: the same recall answers."""
    from bench_backup import round_trip

    figures = round_trip(tmp_path, count=10_000, queries=50)
    assert figures["restored"] == 10_000
    assert figures["edges_restored"] >= figures["edges"] > 0  # ours, and the PRECEDED_BY links enrichment made
    assert figures["same_answers"] == 50, figures["differences"]
