"""Ingestion at scale: the batch store, status polling, idempotent repeats, bounded provider concurrency."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from loci.model import StageStatus
from loci.services import Services
from tests.helpers import FakeClock, settle, wait_until
from tests.openai_server import OpenAIServer


def batch(client: FlaskClient, items: list[dict[str, Any]], **headers: str) -> Any:
    return client.post("/memory/batch", json={"memories": items}, headers=headers)


def count(svc: Services) -> int:
    return svc.graph.memories.count()


# --- POST /memory/batch


def test_batch_returns_ids_in_input_order_before_any_model_runs(client: FlaskClient, services: Services) -> None:
    texts = [f"Note {n}: the {['red', 'blue', 'green'][n % 3]} server was patched" for n in range(40)]
    response = batch(client, [{"content": t, "tags": [f"n:{n}"]} for n, t in enumerate(texts)])
    assert response.status_code == 201, response.json
    body = response.json
    assert body["stored"] == 40 and body["deduplicated"] == [] and body["qdrant"] == "queued"
    ids = body["memory_ids"]
    assert len(set(ids)) == 40
    stored = services.graph.memories.get_many(ids)
    assert [stored[i].content for i in ids] == texts
    assert [stored[i].tags for i in ids] == [[f"n:{n}"] for n in range(40)]
    assert services.provider.report()["calls"] == 0  # nothing was embedded inside the request
    assert all(stored[i].embedding_status is StageStatus.PENDING for i in ids)
    assert services.embedding_queue.stats().pending == 40 and services.enrichment_queue.stats().pending == 40


def test_batch_items_accept_every_field_of_a_single_store(client: FlaskClient, services: Services) -> None:
    vector = [0.0] * 383 + [1.0]
    item = {
        "content": "The lease on the Leeds office ends in March",
        "type": "Context",
        "confidence": 0.7,
        "importance": 0.9,
        "tags": ["office"],
        "metadata": {"source": "import"},
        "timestamp": "2024-01-05T09:00:00Z",
        "updated_at": "2024-01-06T09:00:00Z",
        "last_accessed": "2024-01-07T09:00:00Z",
        "t_valid": "2024-01-01T00:00:00Z",
        "t_invalid": "2025-03-31T00:00:00Z",
        "embedding": vector,
    }
    response = batch(client, [item, {"content": "A memory without a vector"}])
    assert response.status_code == 201, response.json
    assert response.json["qdrant"] == "stored (1), queued (1)"
    first, _ = response.json["memory_ids"]
    memory = services.graph.memories.get(first)
    assert memory is not None
    assert (memory.type, memory.confidence, memory.importance) == ("Context", 0.7, 0.9)
    assert memory.metadata == {"source": "import"}
    assert memory.timestamp == "2024-01-05T09:00:00+00:00" and memory.updated_at == "2024-01-06T09:00:00+00:00"
    assert memory.last_accessed == "2024-01-07T09:00:00+00:00"
    assert memory.t_valid == "2024-01-01T00:00:00+00:00" and memory.t_invalid == "2025-03-31T00:00:00+00:00"
    assert memory.embedding_status is StageStatus.COMPLETED
    (point,) = services.vectors.retrieve([first])
    assert point.payload["content"] == item["content"]
    assert services.embedding_queue.stats().pending == 1  # only the memory without a vector


GOOD = {"content": "fine"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"memories": []}, "memories"),
        ({"memories": "not a list"}, "memories"),
        ({}, "memories"),
        ({"memories": [GOOD, "text"]}, "memories[1]"),
        ({"memories": [GOOD, GOOD, {"content": ""}]}, "memories[2].content"),
        ({"memories": [GOOD, {"content": "x", "importance": 3}]}, "memories[1].importance"),
        ({"memories": [{"content": "x", "timestamp": "yesterday-ish"}, GOOD]}, "memories[0].timestamp"),
        ({"memories": [GOOD, {"content": "x", "tags": [1, {}]}]}, "memories[1].tags"),
        ({"memories": [GOOD, {"content": "x", "embedding": [0.1, 0.2]}]}, "memories[1].embedding"),
        (
            {"memories": [GOOD, {"content": "x", "timestamp": "2024-02-01", "t_invalid": "2024-01-01"}]},
            "memories[1].t_invalid",
        ),
    ],
)
def test_batch_validation_is_all_or_nothing(
    client: FlaskClient, services: Services, body: dict[str, Any], field: str
) -> None:
    response = client.post("/memory/batch", json=body)
    assert response.status_code == 400, response.json
    assert response.json["status"] == "error"
    assert response.json["field"].startswith(field), response.json
    assert count(services) == 0
    assert services.embedding_queue.stats().pending == 0


def test_batch_over_the_limit_is_refused(make_app: Callable[..., Flask]) -> None:
    app = make_app(memory_batch_limit=3)
    response = batch(app.test_client(), [{"content": f"m{n}"} for n in range(4)])
    assert response.status_code == 400 and response.json["field"] == "memories"
    assert "limit is 3" in response.json["message"]
    assert count(app.extensions["loci"]) == 0


def test_an_oversize_body_is_413(make_app: Callable[..., Flask]) -> None:
    app = make_app(max_request_bytes=4096)
    response = batch(app.test_client(), [{"content": "x" * 1000} for _ in range(8)])
    assert response.status_code == 413 and response.json["status"] == "error"
    assert count(app.extensions["loci"]) == 0


# --- idempotency


def test_an_idempotency_key_replays_the_first_response(client: FlaskClient, services: Services) -> None:
    items = [{"content": f"imported line {n}"} for n in range(5)]
    first = batch(client, items, **{"Idempotency-Key": "import-0-5"})
    again = batch(client, items, **{"Idempotency-Key": "import-0-5"})
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(services) == 5

    single = client.post("/memory", json={"content": "once"}, headers={"Idempotency-Key": "k1"})
    repeat = client.post("/memory", json={"content": "once"}, headers={"Idempotency-Key": "k1"})
    assert repeat.json["memory_id"] == single.json["memory_id"] and repeat.status_code == 201
    assert count(services) == 6


def test_an_idempotency_key_reused_for_another_request_is_refused(client: FlaskClient, services: Services) -> None:
    assert client.post("/memory", json={"content": "one"}, headers={"Idempotency-Key": "k"}).status_code == 201
    response = client.post("/memory", json={"content": "two"}, headers={"Idempotency-Key": "k"})
    assert response.status_code == 422 and response.json["field"] == "Idempotency-Key"
    bad = client.post("/memory", json={"content": "three"}, headers={"Idempotency-Key": "x" * 300})
    assert bad.status_code == 400 and bad.json["field"] == "Idempotency-Key"
    assert count(services) == 1


def test_a_failed_request_frees_its_key(client: FlaskClient, services: Services) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    assert batch(client, [{"content": ""}], **headers).status_code == 400
    response = batch(client, [{"content": "now valid"}], **headers)
    assert response.status_code == 201 and count(services) == 1


def test_the_same_store_without_a_key_returns_the_original(client: FlaskClient, services: Services) -> None:
    first = client.post("/memory", json={"content": "Standup moved to 10:00", "tags": ["team"]})
    repeat = client.post("/memory", json={"content": "Standup moved to 10:00", "tags": ["TEAM"]})
    assert first.status_code == 201 and first.json["deduplicated"] is False
    assert repeat.status_code == 200 and repeat.json["deduplicated"] is True
    assert repeat.json["memory_id"] == first.json["memory_id"]
    # other tags, another type or another timestamp make another memory
    for other in ({"tags": ["ops"]}, {"tags": ["team"], "type": "Decision"}, {"timestamp": "2024-01-01T00:00:00Z"}):
        response = client.post("/memory", json={"content": "Standup moved to 10:00", **other})
        assert response.status_code == 201, other
    assert count(services) == 4


def test_duplicates_inside_a_batch_and_against_earlier_stores(client: FlaskClient, services: Services) -> None:
    earlier = client.post("/memory", json={"content": "alpha"}).json["memory_id"]
    response = batch(client, [{"content": "beta"}, {"content": "alpha"}, {"content": "beta"}, {"content": "gamma"}])
    body = response.json
    assert body["stored"] == 2 and body["deduplicated"] == [1, 2]
    ids = body["memory_ids"]
    assert ids[1] == earlier and ids[2] == ids[0] and len(set(ids)) == 3
    assert count(services) == 3


def test_a_deleted_original_is_stored_again(client: FlaskClient, services: Services) -> None:
    first = client.post("/memory", json={"content": "ephemeral"}).json["memory_id"]
    assert client.delete(f"/memory/{first}").status_code == 200
    again = client.post("/memory", json={"content": "ephemeral"})
    assert again.status_code == 201 and again.json["memory_id"] != first
    third = client.post("/memory", json={"content": "ephemeral"})
    assert third.json["memory_id"] == again.json["memory_id"] and third.json["deduplicated"] is True


def test_a_zero_window_turns_both_rules_off(make_app: Callable[..., Flask]) -> None:
    app = make_app(idempotency_window_seconds=0)
    client = app.test_client()
    for _ in range(2):
        assert client.post("/memory", json={"content": "x"}, headers={"Idempotency-Key": "k"}).status_code == 201
    assert count(app.extensions["loci"]) == 2


def test_keys_expire_after_the_window(make_app: Callable[..., Flask]) -> None:
    app = make_app(idempotency_window_seconds=1)
    svc: Services = app.extensions["loci"]
    client = app.test_client()
    first = client.post("/memory", json={"content": "x"}).json["memory_id"]
    keys = f"loci:{svc.settings.falkordb_graph}:dedup:*"
    (key,) = svc.graph.redis.scan_iter(match=keys)
    assert 0 < svc.graph.redis.pttl(key) <= 1000  # the fingerprint is kept for the window (1 s)
    wait_until(lambda: not list(svc.graph.redis.scan_iter(match=keys)), 10.0, what="the key to expire (Redis TTL)")
    assert client.post("/memory", json={"content": "x"}).json["memory_id"] != first


# --- status


@pytest.fixture
def stub_app(make_stub_app: Callable[..., Flask], clock: FakeClock) -> Flask:
    return make_stub_app(embedding_max_attempts=2, clock=clock)


def test_status_partitions_ids_including_a_provider_failure(
    stub_app: Flask, openai_server: OpenAIServer, clock: FakeClock
) -> None:
    svc: Services = stub_app.extensions["loci"]
    client = stub_app.test_client()
    ids = batch(client, [{"content": "ready soon"}, {"content": "poison pill"}, {"content": "also fine"}]).json[
        "memory_ids"
    ]
    unknown = str(uuid.uuid4())
    before = client.get("/memory/status", query_string={"ids": ",".join([*ids, unknown])}).json
    assert before["pending_ids"] == ids and before["unknown_ids"] == [unknown] and before["completed_ids"] == []

    openai_server.stub.reject_text = "poison"
    settle(svc, clock)
    after = client.post("/memory/status", json={"ids": [*ids, unknown]}).json
    assert after["completed_ids"] == [ids[0], ids[2]]
    assert after["failed_ids"] == [ids[1]] and after["pending_ids"] == []
    (failure,) = after["failed"]
    assert failure["id"] == ids[1] and failure["stage"] == "embedding" and "400" in failure["reason"]
    assert after["counts"] == {"completed": 2, "pending": 0, "failed": 1, "unknown": 1}


def test_status_lists_ids_once_in_the_order_asked(client: FlaskClient) -> None:
    first, second = batch(client, [{"content": "a"}, {"content": "b"}]).json["memory_ids"]
    body = client.get(f"/memory/status?ids={second}&ids={first},{second}").json
    assert body["pending_ids"] == [second, first]


@pytest.mark.parametrize(
    ("send", "field"),
    [
        (lambda c, good: c.get("/memory/status"), "ids"),
        (lambda c, good: c.get(f"/memory/status?ids={good},not-a-uuid"), "ids[1]"),
        (lambda c, good: c.post("/memory/status", json={"ids": [good, 7]}), "ids[1]"),
        (lambda c, good: c.post("/memory/status", json={"ids": {"a": 1}}), "ids"),
        (lambda c, good: c.post("/memory/status", json={"ids": []}), "ids"),
        (lambda c, good: c.post("/memory/status", data="[", content_type="application/json"), None),
    ],
)
def test_status_refuses_malformed_ids(client: FlaskClient, send: Any, field: str | None) -> None:
    response = send(client, str(uuid.uuid4()))
    assert response.status_code == 400 and response.json["status"] == "error"
    if field is not None:
        assert response.json["field"] == field


# --- providers


def test_remote_batches_are_embedded_with_bounded_concurrency(
    make_stub_app: Callable[..., Flask], openai_server: OpenAIServer
) -> None:
    openai_server.stub.latency = 0.2
    app = make_stub_app(embedding_batch_size=2, embedding_batch_timeout_seconds=0, embedding_concurrency=3)
    svc: Services = app.extensions["loci"]
    ids = batch(app.test_client(), [{"content": f"text {n}"} for n in range(12)]).json["memory_ids"]
    svc.embedding_worker.start()
    try:
        wait_until(lambda: svc.vectors.count() >= len(ids), 20.0, what="every vector")
    finally:
        svc.embedding_worker.stop()
    assert svc.vectors.count() == len(ids)
    assert 2 <= openai_server.stub.max_in_flight <= 3
    assert all(len(r["input"]) <= 2 for r in openai_server.stub.requests)  # one request per batch


def test_metrics_in_prometheus_format(stub_app: Flask, openai_server: OpenAIServer, clock: FakeClock) -> None:
    svc: Services = stub_app.extensions["loci"]
    client = stub_app.test_client()
    batch(client, [{"content": "one"}, {"content": "two"}, {"content": "one"}])
    openai_server.stub.fail_next(1, status=503)
    settle(svc, clock)
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert 'loci_embedding_requests_total{outcome="error",provider="openai"} 1.0' in text
    assert 'loci_embedding_requests_total{outcome="ok",provider="openai"} 1.0' in text
    assert 'loci_embedding_texts_total{provider="openai"} 2.0' in text
    assert 'loci_memories_stored_total{namespace="default"} 2.0' in text
    assert 'loci_memories_deduplicated_total{namespace="default"} 1.0' in text
    assert 'loci_embedding_queue_pending{namespace="default"} 0.0' in text
    assert 'loci_embedding_request_seconds_count{provider="openai"} 2.0' in text
    health = client.get("/health").json["embedding"]
    assert health["provider_calls"]["calls"] == 2 and health["provider_calls"]["errors"] == 1
