"""Namespaces (loci/namespaces.py, loci/runtime.py, loci/api/auth.py) against the real FalkorDB and
vector store: two namespaces holding the same content never see each other through any route
(get, recall, list, by tag, related, status, graph, entities, analyze, stream, metrics, backup);
token roles (read, write, admin), the admin's X-Loci-Namespace, creation by first write, listing
and dropping namespaces; a plain AUTOMEM_API_TOKEN set-up works unchanged in `default`; the
scheduler's jobs run in every namespace.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from loci.errors import ConfigError
from loci.namespaces import SEPARATOR, graph_name
from loci.runtime import Runtime
from loci.services import Services
from tests.helpers import settle

ALICE, BOB, READER, ADMIN = "alice-token-1", "bob-token-22", "alice-reader-3", "root-token-44"
SAME = "Dana decided to move the Lisbon offsite to October"


def auth(token: str, namespace: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if namespace:
        headers["X-Loci-Namespace"] = namespace
    return headers


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.json"
    entries = [
        {"token": ALICE, "namespace": "alice", "role": "write"},
        {"token": BOB, "namespace": "bob", "role": "write"},
        {"token": READER, "namespace": "alice", "role": "read"},
        {"token": ADMIN, "role": "admin"},
    ]
    path.write_text(json.dumps({"tokens": entries}))
    return path


@pytest.fixture
def app(make_app: Callable[..., Flask], tokens_file: Path) -> Flask:
    return make_app(tokens_file=tokens_file, stream_keepalive_seconds=0.2)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def runtime_of(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["loci.runtime"]
    return runtime


def store(client: FlaskClient, token: str, **body: Any) -> str:
    response = client.post("/memory", json=body, headers=auth(token))
    assert response.status_code == 201, response.json
    return str(response.json["memory_id"])


def populated(app: Flask, client: FlaskClient) -> dict[str, dict[str, str]]:
    """The same two memories, linked, in alice and in bob; both namespaces' workers settled."""
    ids: dict[str, dict[str, str]] = {}
    for owner, token in (("alice", ALICE), ("bob", BOB)):
        first = store(client, token, content=SAME, tags=["offsite"])
        second = store(client, token, content="The Lisbon venue needs a deposit by May", tags=["offsite"])
        link = {"memory1_id": first, "memory2_id": second, "type": "LEADS_TO"}
        assert client.post("/associate", json=link, headers=auth(token)).status_code == 201
        ids[owner] = {"first": first, "second": second}
        settle(runtime_of(app).namespace(owner))
    return ids


def test_the_same_content_in_two_namespaces_never_crosses(app: Flask, client: FlaskClient) -> None:
    ids = populated(app, client)
    alice, bob = ids["alice"], ids["bob"]
    assert alice["first"] != bob["first"]  # no de-duplication across namespaces either
    for token, own, other in ((ALICE, alice, bob), (BOB, bob, alice)):
        headers = auth(token)
        assert client.get(f"/memory/{own['first']}", headers=headers).status_code == 200
        assert client.get(f"/memory/{other['first']}", headers=headers).status_code == 404
        assert client.patch(f"/memory/{other['first']}", json={"importance": 1}, headers=headers).status_code == 404
        recalled = client.get("/recall", query_string={"query": "Lisbon offsite", "limit": 10}, headers=headers).json
        assert {r["id"] for r in recalled["results"]} == set(own.values())
        listed = client.get("/memories", headers=headers).json["memories"]
        assert {m["id"] for m in listed} == set(own.values())
        tagged = client.get("/memory/by-tag", query_string={"tags": "offsite"}, headers=headers).json["memories"]
        assert {m["id"] for m in tagged} == set(own.values())
        related = client.get(f"/memories/{own['first']}/related", headers=headers).json["related_memories"]
        assert [m["id"] for m in related] == [own["second"]]
        assert client.get(f"/memories/{other['first']}/related", headers=headers).json["related_memories"] == []
        status = client.post("/memory/status", json={"ids": [*own.values(), *other.values()]}, headers=headers).json
        assert set(status["completed_ids"]) == set(own.values()) and set(status["unknown_ids"]) == set(other.values())
        snapshot = client.get("/graph/snapshot", headers=headers).json
        assert {n["id"] for n in snapshot["nodes"]} == set(own.values())
        assert client.get(f"/graph/neighbors/{other['first']}", headers=headers).status_code == 404
        assert client.get("/graph/stats", headers=headers).json["totals"]["nodes"] == 2
        entities = client.get("/entities", headers=headers).json
        assert sum(e["reference_count"] for e in entities["entities"] if e["name"] == "Dana") == 1
        assert client.get("/analyze", headers=headers).json["analytics"]["confidence_distribution"]
        assert sum(client.get("/analyze", headers=headers).json["analytics"]["confidence_distribution"].values()) == 2


def test_deletes_stay_in_their_namespace(app: Flask, client: FlaskClient) -> None:
    ids = populated(app, client)
    assert client.delete(f"/memory/{ids['bob']['first']}", headers=auth(ALICE)).status_code == 404
    deleted = client.delete("/memory/by-tag", query_string={"tags": "offsite"}, headers=auth(ALICE)).json
    assert deleted["deleted_count"] == 2
    assert client.get(f"/memory/{ids['bob']['first']}", headers=auth(BOB)).status_code == 200


def test_the_stream_carries_only_its_namespace(app: Flask, client: FlaskClient) -> None:
    response = client.get("/stream", headers=auth(ALICE), buffered=False)
    chunks = iter(response.response)
    assert next(chunks) == b": connected\n\n"
    bob_store = threading.Timer(0.05, lambda: store(client, BOB, content="bob's private note"))
    bob_store.start()
    bob_store.join()
    alice_id = store(client, ALICE, content="alice's own note")
    seen = []
    for _ in range(20):
        chunk = next(chunks).decode()
        if chunk.startswith("data: "):
            seen.append(json.loads(chunk.removeprefix("data: ")))
            if seen[-1]["type"] == "memory.stored":
                break
    response.close()
    assert [e["data"]["memory_id"] for e in seen if e["type"] == "memory.stored"] == [alice_id]


def test_metrics_are_labelled_by_namespace_and_show_only_their_own(app: Flask, client: FlaskClient) -> None:
    store(client, ALICE, content="counted in alice")
    store(client, ALICE, content="counted in alice too")
    store(client, BOB, content="counted in bob")
    alice = client.get("/metrics", headers=auth(ALICE)).get_data(as_text=True)
    assert 'loci_memories_stored_total{namespace="alice"} 2.0' in alice
    assert 'namespace="bob"' not in alice and "loci_embedding_requests" not in alice  # the process's are an admin's
    admin = client.get("/metrics", headers=auth(ADMIN, "bob")).get_data(as_text=True)
    assert 'loci_memories_stored_total{namespace="bob"} 1.0' in admin and "loci_embedding_texts_total" in admin


def test_backup_holds_one_namespace(app: Flask, client: FlaskClient) -> None:
    ids = populated(app, client)
    response = client.get("/backup", query_string={"include": "falkordb"}, headers=auth(ADMIN, "bob"))
    assert response.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(response.data), mode="r:gz") as archive:
        members = [archive.extractfile(member) for member in archive.getmembers() if member.isfile()]
        text = b"".join(gzip.decompress(member.read()) for member in members if member).decode()
    assert ids["bob"]["first"] in text and ids["alice"]["first"] not in text
    assert f"{SEPARATOR}bob" in text  # the namespace's own graph name is recorded


# --- roles and choosing a namespace
def test_roles(app: Flask, client: FlaskClient) -> None:
    memory_id = store(client, ALICE, content="readable by the reader")
    reader = auth(READER)
    assert client.get(f"/memory/{memory_id}", headers=reader).status_code == 200
    assert client.post("/recall", json={"query": "readable"}, headers=reader).status_code == 200
    refused = client.post("/memory", json={"content": "no"}, headers=reader)
    assert refused.status_code == 403 and "only read" in refused.json["message"]
    assert client.delete(f"/memory/{memory_id}", headers=reader).status_code == 403
    assert client.get("/memories", headers=auth("not-a-token")).status_code == 401
    assert client.get("/admin/namespaces", headers=auth(ALICE)).status_code == 401  # not an admin
    assert client.post("/admin/sync", json={"dry_run": True}, headers=auth(ALICE)).status_code == 401


def test_only_an_admin_may_choose_the_namespace(app: Flask, client: FlaskClient) -> None:
    bob_id = store(client, BOB, content="bob only")
    refused = client.get(f"/memory/{bob_id}", headers=auth(ALICE, "bob"))
    assert refused.status_code == 403 and "'alice'" in refused.json["message"]
    assert client.get(f"/memory/{bob_id}", headers=auth(ALICE, "alice")).status_code == 404  # its own: allowed
    assert client.get(f"/memory/{bob_id}", headers=auth(ADMIN, "bob")).status_code == 200
    bad = client.get("/memories", headers=auth(ADMIN, "Not/A/Name"))
    assert bad.status_code == 400 and bad.json["field"] == "X-Loci-Namespace"


def test_an_admin_creates_a_namespace_by_writing_to_it(app: Flask, client: FlaskClient) -> None:
    missing = client.get("/memories", headers=auth(ADMIN, "carol"))
    assert missing.status_code == 404 and "carol" in missing.json["message"]
    created = client.post("/memory", json={"content": "carol's first"}, headers=auth(ADMIN, "carol"))
    assert created.status_code == 201
    assert client.get("/memories", headers=auth(ADMIN, "carol")).json["count"] == 1
    listed = client.get("/admin/namespaces", headers=auth(ADMIN)).json
    counts = {entry["namespace"]: entry["memories"] for entry in listed["namespaces"]}
    assert counts["carol"] == 1 and "default" in counts
    runtime = runtime_of(app)
    assert graph_name(runtime.settings, "carol") in runtime.default.graph.graph_names()


def test_dropping_a_namespace_removes_its_graph_and_vectors(app: Flask, client: FlaskClient) -> None:
    ids = populated(app, client)
    runtime = runtime_of(app)
    assert client.delete("/admin/namespaces/bob", headers=auth(BOB)).status_code == 401
    assert client.delete("/admin/namespaces/default", headers=auth(ADMIN)).status_code == 400
    dropped = client.delete("/admin/namespaces/bob", headers=auth(ADMIN))
    assert dropped.status_code == 200 and dropped.json["deleted_memories"] == 2
    assert graph_name(runtime.settings, "bob") not in runtime.default.graph.graph_names()
    assert client.delete("/admin/namespaces/bob", headers=auth(ADMIN)).status_code == 404
    assert not (runtime.settings.data_dir / "qdrant" / f"{runtime.settings.qdrant_collection}{SEPARATOR}bob").exists()
    # bob's token still works: its namespace starts again empty with its next write
    assert client.get("/memories", headers=auth(BOB)).json["count"] == 0
    assert client.get(f"/memory/{ids['alice']['first']}", headers=auth(ALICE)).status_code == 200


def test_a_plain_automem_token_works_in_default(make_app: Callable[..., Flask]) -> None:
    app = make_app(api_token="plain-token")
    client = app.test_client()
    memory_id = store(client, "plain-token", content="as before")
    svc: Services = app.extensions["loci"]
    assert svc.namespace == "default" and svc.graph.graph_name == svc.settings.falkordb_graph
    assert svc.graph.memories.get(memory_id) is not None
    assert client.get(f"/memory/{memory_id}", headers=auth("plain-token", "default")).status_code == 200
    assert client.get("/memories", headers=auth("plain-token", "other")).status_code == 403


def test_a_bad_tokens_file_stops_the_start(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"tokens": [{"token": "x" * 10, "namespace": "Bad Name", "role": "write"}]}))
    with pytest.raises(ConfigError, match="namespace"):
        make_app(tokens_file=path)
    path.write_text(json.dumps({"tokens": [{"token": "same-token", "role": "read"}, {"token": "same-token"}]}))
    with pytest.raises(ConfigError, match="twice"):
        make_app(tokens_file=path)


def test_scheduled_jobs_run_in_every_namespace(app: Flask, client: FlaskClient) -> None:
    populated(app, client)
    runtime = runtime_of(app)
    runtime.scheduler._run("decay")  # what the scheduler calls at the job's time
    for name in ("default", "alice", "bob"):
        history = runtime.namespace(name).consolidator.history(5)
        assert [run["mode"] for run in history] == ["decay"], name
