"""Memory routes: shapes and codes of store/get/patch/delete/by-tag, and bad input refused whole."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from loci.model import StageStatus
from loci.services import Services
from tests.helpers import store_body


def test_store_returns_ids_at_once_and_queues_the_embedding(client: FlaskClient, services: Services) -> None:
    body = store_body(client, tags=["project:loci", "Ops"], importance=0.8, metadata={"source": "chat"})
    assert body["status"] == "success"
    uuid.UUID(body["memory_id"])
    assert body["embedding_status"] == "queued" and body["qdrant"] == "queued"
    assert body["importance"] == 0.8
    assert services.embedding_queue.stats().pending == 1
    memory = services.graph.memories.get(body["memory_id"])
    assert memory is not None and memory.embedding_status is StageStatus.PENDING
    assert memory.tags == ["project:loci", "Ops"]
    assert memory.metadata == {"source": "chat"}


def test_store_defaults_and_classification(client: FlaskClient) -> None:
    body = store_body(client, content="We decided to use FalkorDB for the graph")
    assert body["type"] == "Decision" and body["confidence"] == 0.6 and body["importance"] == 0.5
    typed = store_body(client, type="preference")
    assert typed["type"] == "Preference" and typed["confidence"] == 0.9


def test_store_keeps_client_timestamps(client: FlaskClient) -> None:
    body = store_body(
        client, timestamp="2024-03-01T10:00:00Z", t_valid="2024-03-01T00:00:00", t_invalid="2025-01-01T00:00:00+02:00"
    )
    got = client.get(f"/memory/{body['memory_id']}").json["memory"]
    assert got["timestamp"] == "2024-03-01T10:00:00+00:00"
    assert got["updated_at"] == got["last_accessed"] == got["timestamp"]
    assert got["t_valid"] == "2024-03-01T00:00:00+00:00"
    assert got["t_invalid"] == "2024-12-31T22:00:00+00:00"


def test_store_with_a_precomputed_embedding_writes_the_vector_now(client: FlaskClient, services: Services) -> None:
    vector = [0.0] * 383 + [1.0]
    body = store_body(client, embedding=vector)
    assert body["embedding_status"] == "provided" and body["qdrant"] == "stored"
    assert services.embedding_queue.stats().pending == 0
    (point,) = services.vectors.retrieve([body["memory_id"]])
    assert point.payload["content"] == "something worth keeping"
    got = services.graph.memories.get(body["memory_id"])
    assert got is not None and got.embedding_status is StageStatus.COMPLETED


def test_get_patch_delete(client: FlaskClient, services: Services) -> None:
    memory_id = store_body(client, tags=["a"])["memory_id"]
    services.embedding_worker.drain()
    before = client.get(f"/memory/{memory_id}").json["memory"]

    response = client.patch(f"/memory/{memory_id}", json={"importance": 0.9, "tags": ["b", "c"]})
    assert response.status_code == 200 and response.json["memory_id"] == memory_id
    after = client.get(f"/memory/{memory_id}").json["memory"]
    assert after["importance"] == 0.9 and after["tags"] == ["b", "c"]
    assert after["updated_at"] > before["updated_at"]
    assert after["embedding_status"] == "completed"  # content unchanged: vector still valid

    client.patch(f"/memory/{memory_id}", json={"content": "rewritten entirely"})
    changed = client.get(f"/memory/{memory_id}").json["memory"]
    assert changed["content"] == "rewritten entirely" and changed["embedding_status"] == "pending"
    services.embedding_worker.drain()
    assert services.vectors.retrieve([memory_id])[0].payload["content"] == "rewritten entirely"

    assert client.delete(f"/memory/{memory_id}").json == {"status": "success", "memory_id": memory_id}
    assert client.get(f"/memory/{memory_id}").status_code == 404
    assert services.vectors.retrieve([memory_id]) == []
    assert client.delete(f"/memory/{memory_id}").status_code == 404


def test_patch_null_clears_tags_and_validity(client: FlaskClient) -> None:
    memory_id = store_body(client, tags=["x"], t_invalid="2030-01-01T00:00:00Z")["memory_id"]
    client.patch(f"/memory/{memory_id}", json={"tags": None, "t_invalid": None, "importance": None})
    got = client.get(f"/memory/{memory_id}").json["memory"]
    assert got["tags"] == [] and got["t_invalid"] is None and got["importance"] == 0.5


def test_by_tag_lists_and_deletes(client: FlaskClient, services: Services) -> None:
    for n in range(3):
        store_body(client, tags=["Batch", f"n{n}"], importance=n / 10)
    store_body(client, tags=["other"])
    listed = client.get("/memory/by-tag?tags=batch&limit=2").json
    assert listed["count"] == 2 and listed["has_more"] is True
    assert [m["importance"] for m in listed["memories"]] == [0.2, 0.1]
    assert client.get("/memory/by-tag?tags=batch&limit=2&offset=2").json["has_more"] is False
    deleted = client.delete("/memory/by-tag?tags=BATCH").json
    assert deleted["deleted_count"] == 3
    assert services.graph.memories.count() == 1


def nothing_written(services: Services) -> bool:
    return (
        services.graph.memories.count() == 0
        and services.vectors.count() == 0
        and services.embedding_queue.stats().pending == 0
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "content"),
        ({"content": ""}, "content"),
        ({"content": "   "}, "content"),
        ({"content": None}, "content"),
        ({"content": 42}, "content"),
        ({"content": "x" * 2001}, "content"),
        ({"content": "ok", "importance": 1.5}, "importance"),
        ({"content": "ok", "importance": -0.1}, "importance"),
        ({"content": "ok", "importance": "high"}, "importance"),
        ({"content": "ok", "importance": True}, "importance"),
        ({"content": "ok", "confidence": 2}, "confidence"),
        ({"content": "ok", "tags": [1, 2]}, "tags"),
        ({"content": "ok", "tags": {"a": 1}}, "tags"),
        ({"content": "ok", "metadata": ["not", "an", "object"]}, "metadata"),
        ({"content": "ok", "type": "Gossip"}, "type"),
        ({"content": "ok", "timestamp": "yesterday-ish"}, "timestamp"),
        ({"content": "ok", "timestamp": 1700000000}, "timestamp"),
        ({"content": "ok", "t_invalid": "2024-13-45"}, "t_invalid"),
        ({"content": "ok", "embedding": [0.1, 0.2]}, "embedding"),
        ({"content": "ok", "embedding": ["a"] * 384}, "embedding"),
    ],
)
def test_bad_store_input_is_a_400_naming_the_field_and_writes_nothing(
    client: FlaskClient, services: Services, body: dict[str, Any], field: str
) -> None:
    response = client.post("/memory", json=body)
    assert response.status_code == 400
    assert response.json["status"] == "error" and response.json["code"] == 400
    assert field in response.json["message"]
    assert response.json["field"] == field
    assert nothing_written(services)


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2, 3]", b'"a string"', b"", b"null"],
)
def test_non_object_bodies_are_400(client: FlaskClient, services: Services, raw: bytes) -> None:
    response = client.post("/memory", data=raw, content_type="application/json")
    assert response.status_code == 400 and response.json["status"] == "error"
    assert nothing_written(services)


def test_patch_validates_like_store(client: FlaskClient) -> None:
    memory_id = store_body(client)["memory_id"]
    for body, field in [
        ({"importance": 3}, "importance"),
        ({"content": ""}, "content"),
        ({"content": None}, "content"),
        ({"type": "Nonsense"}, "type"),
        ({"timestamp": "later"}, "timestamp"),
    ]:
        response = client.patch(f"/memory/{memory_id}", json=body)
        assert response.status_code == 400 and response.json["field"] == field
    assert client.get(f"/memory/{memory_id}").json["memory"]["content"] == "something worth keeping"


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_bad_and_unknown_ids(client: FlaskClient, method: str) -> None:
    bad = getattr(client, method)("/memory/not-a-uuid", json={})
    assert bad.status_code == 400 and bad.json["message"] == "memory_id must be a valid UUID"
    missing = getattr(client, method)(f"/memory/{uuid.uuid4()}", json={"importance": 0.1})
    assert missing.status_code == 404 and missing.json == {
        "status": "error",
        "code": 404,
        "message": "Memory not found",
    }


def test_unknown_routes_and_methods_use_the_envelope(client: FlaskClient) -> None:
    assert client.get("/nowhere").json["code"] == 404
    wrong = client.put("/memory")
    assert wrong.status_code == 405 and wrong.json["status"] == "error" and wrong.json["code"] == 405
    assert set(wrong.headers["Allow"].replace(" ", "").split(",")) >= {"POST"}  # RFC 9110: a 405 names what is allowed


def test_body_over_the_limit_is_413(make_app: Callable[..., Flask]) -> None:
    app = make_app(max_request_bytes=4096)
    response = app.test_client().post("/memory", json={"content": "x" * 5000})
    assert response.status_code == 413 and response.json["code"] == 413
    assert app.extensions["loci"].graph.memories.count() == 0


def test_by_tag_needs_tags(client: FlaskClient) -> None:
    response = client.get("/memory/by-tag")
    assert response.status_code == 400 and response.json["field"] == "tags"
    assert client.get("/memory/by-tag?tags=a&limit=ten").status_code == 400


class TestAuth:
    @pytest.fixture
    def secured(self, make_app: Callable[..., Flask]) -> FlaskClient:
        return make_app(api_token="s3cret", admin_token="adm1n").test_client()

    def test_health_is_open(self, secured: FlaskClient) -> None:
        assert secured.get("/health").status_code == 200

    @pytest.mark.parametrize(
        ("headers", "query"),
        [
            ({"Authorization": "Bearer s3cret"}, ""),
            ({"Authorization": "bearer s3cret"}, ""),
            ({"X-API-Key": "s3cret"}, ""),
            ({}, "?api_key=s3cret"),
        ],
    )
    def test_token_forms(self, secured: FlaskClient, headers: dict[str, str], query: str) -> None:
        response = secured.post(f"/memory{query}", json={"content": "hi"}, headers=headers)
        assert response.status_code == 201

    @pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "s3cre"}])
    def test_missing_or_wrong_token_is_401(self, secured: FlaskClient, headers: dict[str, str]) -> None:
        response = secured.get("/recall?query=x", headers=headers)
        assert response.status_code == 401 and response.json["code"] == 401
