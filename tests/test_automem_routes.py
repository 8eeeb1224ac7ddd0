"""All 34 of AutoMem's route/method pairs are served, with AutoMem's authentication.

The inventory is AutoMem's own route list (its routes contract test freezes 34 pairs).
Each pair is called as a client would, with the tokens it needs, against an app holding
one memory: the answer is the route's own (never 404 or 405), and a route that needs a
token refuses the call without it. What each route answers is tested in the route's own
test file (test_api_*.py, test_backup.py, test_recall*.py, test_long_requests.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.helpers import store

API = {"Authorization": "Bearer api-token"}
ADMIN = {**API, "X-Admin-Token": "admin-token"}
MEMORY = "{memory}"
"""Stands for the stored memory's id in a path or body."""

# (method, path, auth: none | api | admin, body, the statuses that mean the route answered)
ROUTES: list[tuple[str, str, str, dict[str, Any] | None, tuple[int, ...]]] = [
    ("GET", "/health", "none", None, (200,)),
    ("POST", "/memory", "api", {"content": "Routes are all served"}, (201,)),
    ("POST", "/memory/batch", "api", {"memories": [{"content": "one of a batch"}]}, (201,)),
    ("GET", f"/memory/{MEMORY}", "api", None, (200,)),
    ("PATCH", f"/memory/{MEMORY}", "api", {"importance": 0.7}, (200,)),
    ("DELETE", f"/memory/{MEMORY}", "api", None, (200,)),
    ("GET", "/memory/by-tag?tags=inventory", "api", None, (200,)),
    ("DELETE", "/memory/by-tag?tags=nothing-has-this", "api", None, (200,)),
    ("POST", "/associate", "api", {"memory1_id": MEMORY, "memory2_id": MEMORY}, (400,)),  # self-link refused
    ("GET", "/recall?query=inventory", "api", None, (200,)),
    ("GET", "/startup-recall", "api", None, (200,)),
    ("GET", "/analyze", "api", None, (200,)),
    ("GET", f"/memories/{MEMORY}/related", "api", None, (200,)),
    ("GET", "/enrichment/status", "api", None, (200,)),
    ("POST", "/enrichment/reprocess", "admin", {"ids": [MEMORY]}, (202,)),
    ("POST", "/admin/reembed", "admin", {"dry_run": True}, (200,)),
    ("POST", "/admin/sync", "admin", {"dry_run": True}, (200,)),
    ("GET", "/backup", "admin", None, (200,)),
    ("POST", "/consolidate", "api", {"mode": "decay", "dry_run": True}, (200,)),
    ("GET", "/consolidate/status", "api", None, (200,)),
    ("GET", "/graph/snapshot", "api", None, (200,)),
    ("GET", f"/graph/neighbors/{MEMORY}", "api", None, (200,)),
    ("GET", "/graph/stats", "api", None, (200,)),
    ("GET", "/graph/types", "api", None, (200,)),
    ("GET", "/graph/relations", "api", None, (200,)),
    ("GET", "/viewer/", "none", None, (200,)),
    ("GET", "/viewer/memories", "none", None, (200,)),
    ("GET", "/stream", "api", None, (200,)),
    ("GET", "/stream/status", "api", None, (200,)),
    ("GET", "/entities", "api", None, (200,)),
    ("GET", "/entities/audit", "admin", None, (200,)),
    ("GET", "/entities/merge-candidates", "api", None, (200,)),
    ("GET", "/entity/no-such-entity", "api", None, (404,)),
    ("POST", "/entity/no-such-entity/merge", "admin", {"merge_into": "also-missing"}, (404,)),
]


def test_the_inventory_is_automems_34_pairs() -> None:
    pairs = {(method, path.split("?")[0].replace(MEMORY, "<id>")) for method, path, *_ in ROUTES}
    assert len(ROUTES) == len(pairs) == 34


@pytest.fixture
def secured(make_app: Callable[..., Flask]) -> Flask:
    return make_app(api_token="api-token", admin_token="admin-token")


def _fill(value: Any, memory_id: str) -> Any:
    if isinstance(value, str):
        return value.replace(MEMORY, memory_id)
    if isinstance(value, list):
        return [_fill(item, memory_id) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, memory_id) for key, item in value.items()}
    return value


@pytest.mark.parametrize(("method", "path", "auth", "body", "answered"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_each_route_answers_with_automems_authentication(
    secured: Flask, method: str, path: str, auth: str, body: dict[str, Any] | None, answered: tuple[int, ...]
) -> None:
    client = secured.test_client()
    memory_id = store(client, "An inventory memory", tags=["inventory"], headers=API)
    url, payload = _fill(path, memory_id), _fill(body, memory_id)
    headers = {"none": {}, "api": API, "admin": ADMIN}[auth]
    streaming = url == "/stream"  # an event stream never ends: read the status, then close it
    response = client.open(url, method=method, json=payload, headers=headers, buffered=not streaming)
    try:
        assert response.status_code in answered, (response.status_code, "" if streaming else response.get_data()[:300])
    finally:
        response.close()
    if auth == "none":
        return
    refused = client.open(url, method=method, json=payload, headers={} if auth == "api" else API)
    assert refused.status_code in (401, 403), refused.status_code
    refused.close()
