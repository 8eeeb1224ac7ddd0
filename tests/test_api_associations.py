"""POST /associate (single and batch) and GET /memories/<id>/related."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient

from loci.services import Services


def new(client: FlaskClient, content: str, importance: float = 0.5) -> str:
    response = client.post("/memory", json={"content": content, "importance": importance})
    return str(response.json["memory_id"])


def test_single_association(client: FlaskClient) -> None:
    a, b = new(client, "a"), new(client, "b")
    response = client.post(
        "/associate",
        json={"memory1_id": a, "memory2_id": b, "type": "prefers_over", "strength": 0.8, "reason": "speed"},
    )
    assert response.status_code == 201
    body = response.json
    assert body["relation_type"] == "PREFERS_OVER" and body["strength"] == 0.8 and body["reason"] == "speed"
    related = client.get(f"/memories/{a}/related").json
    assert [m["id"] for m in related["related_memories"]] == [b]
    assert related["related_memories"][0]["relation_types"] == ["PREFERS_OVER"]


def test_default_type_and_strength(client: FlaskClient) -> None:
    a, b = new(client, "a"), new(client, "b")
    body = client.post("/associate", json={"memory1_id": a, "memory2_id": b}).json
    assert body["relation_type"] == "RELATES_TO" and body["strength"] == 0.5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"memory1_id": "nope"}, "memory1_id"),
        ({"memory2_id": None}, "memory2_id"),
        ({"type": "SIMILAR_TO"}, "type"),
        ({"type": "LIKES"}, "type"),
        ({"strength": 1.2}, "strength"),
        ({"reason": {"nested": True}, "type": "CONTRADICTS"}, "reason"),
    ],
)
def test_bad_association_is_400(client: FlaskClient, change: dict[str, object], field: str) -> None:
    a, b = new(client, "a"), new(client, "b")
    response = client.post("/associate", json={"memory1_id": a, "memory2_id": b, **change})
    assert response.status_code == 400 and response.json["field"] == field


def test_self_link_and_unknown_memory(client: FlaskClient) -> None:
    a = new(client, "a")
    assert client.post("/associate", json={"memory1_id": a, "memory2_id": a}).status_code == 400
    missing = client.post("/associate", json={"memory1_id": a, "memory2_id": str(uuid.uuid4())})
    assert missing.status_code == 404 and missing.json["message"] == "One or both memories do not exist"


def test_batch_reports_each_item(client: FlaskClient) -> None:
    a, b, c = new(client, "a"), new(client, "b"), new(client, "c")
    response = client.post(
        "/associate",
        json={
            "associations": [
                {"memory1_id": a, "memory2_id": b, "type": "LEADS_TO"},
                {"memory1_id": b, "memory2_id": c, "type": "RELATES_TO", "strength": 0.9},
                {"memory1_id": a, "memory2_id": str(uuid.uuid4())},
                {"memory1_id": a, "memory2_id": b, "type": "BOGUS"},
                "not an object",
            ]
        },
    )
    assert response.status_code == 207
    body = response.json
    assert body["status"] == "partial_success" and body["created_count"] == 2 and body["failed_count"] == 3
    assert [s["index"] for s in body["succeeded"]] == [0, 1]
    assert [f["index"] for f in body["failed"]] == [2, 3, 4]
    assert body["summary"] == "2/5 associations created successfully"

    clean = client.post("/associate", json={"associations": [{"memory1_id": c, "memory2_id": a}]})
    assert clean.status_code == 201 and clean.json["status"] == "success"


@pytest.mark.parametrize("items", [[], "x", [{}] * 501])
def test_batch_shape_errors(client: FlaskClient, items: object) -> None:
    assert client.post("/associate", json={"associations": items}).status_code == 400


def test_related_depth_types_and_errors(client: FlaskClient) -> None:
    a, b, c = new(client, "a"), new(client, "b"), new(client, "c", importance=0.9)
    client.post("/associate", json={"memory1_id": a, "memory2_id": b, "type": "LEADS_TO"})
    client.post("/associate", json={"memory1_id": b, "memory2_id": c, "type": "PART_OF"})
    assert [m["id"] for m in client.get(f"/memories/{a}/related").json["related_memories"]] == [b]
    deep = client.get(f"/memories/{a}/related?max_depth=2").json
    assert [m["id"] for m in deep["related_memories"]] == [c, b]
    only = client.get(f"/memories/{b}/related?relationship_types=part_of").json
    assert [m["id"] for m in only["related_memories"]] == [c]
    assert client.get(f"/memories/{a}/related?relationship_types=NOPE").status_code == 400
    assert client.get("/memories/xyz/related").status_code == 400
    unknown = client.get(f"/memories/{uuid.uuid4()}/related")
    assert unknown.status_code == 200 and unknown.json["related_memories"] == []  # as AutoMem answers


def test_related_carries_the_enrichment_summary(client: FlaskClient, services: Services) -> None:
    a = new(client, "a")
    b = new(client, "Priya presented the roadmap in Berlin. It went well.")
    client.post("/associate", json={"memory1_id": a, "memory2_id": b})
    services.enrichment_worker.drain()
    (related,) = client.get(f"/memories/{a}/related").json["related_memories"]
    assert related["summary"] == "Priya presented the roadmap in Berlin."  # was always null: read from `extra`
