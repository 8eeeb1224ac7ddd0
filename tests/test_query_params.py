"""Query strings: a scalar parameter given twice is a 400 naming it, on every route; list
parameters (tags, exclude_tags, queries, ids, relationship_types) keep accepting repeats.

Before, the first value won silently: `limit=5&limit=abc` was a 200 and the reverse a 400.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

ADMIN = "admin-secret"
MEMORY = str(uuid.uuid4())

SCALARS = [
    ("GET", "/recall", "limit", ["5", "abc"]),
    ("GET", "/recall", "query", ["cats", "dogs"]),
    ("GET", "/recall", "q", ["cats", "dogs"]),
    ("GET", "/recall", "sort", ["score", "time_desc"]),
    ("GET", "/recall", "expand_relations", ["true", "false"]),
    ("GET", "/recall", "start", ["2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"]),
    ("GET", "/memory/by-tag?tags=a", "limit", ["5", "abc"]),
    ("GET", "/memory/by-tag?tags=a", "offset", ["0", "3"]),
    ("DELETE", "/memory/by-tag?tags=a", "limit", ["1", "2"]),
    ("GET", f"/memories/{MEMORY}/related", "max_depth", ["1", "2"]),
    ("GET", f"/memories/{MEMORY}/related", "limit", ["5", "abc"]),
    ("GET", "/health", "api_key", ["a", "b"]),
]


@pytest.fixture
def client(make_stub_app: Callable[..., Flask]) -> FlaskClient:
    return make_stub_app(admin_token=ADMIN).test_client()


def call(client: FlaskClient, method: str, path: str, params: list[tuple[str, str]]) -> tuple[int, dict]:
    query = "&".join(f"{name}={value}" for name, value in params)
    url = f"{path}{'&' if '?' in path else '?'}{query}"
    response = client.open(url, method=method)
    return response.status_code, response.get_json(silent=True) or {}


@pytest.mark.parametrize(("method", "path", "name", "values"), SCALARS)
def test_a_scalar_given_twice_is_a_400_naming_it_whatever_the_order(
    client: FlaskClient, method: str, path: str, name: str, values: list[str]
) -> None:
    for ordered in (values, values[::-1]):
        status, body = call(client, method, path, [(name, v) for v in ordered])
        assert status == 400, (ordered, body)
        assert body["status"] == "error" and body["code"] == 400
        assert body["field"] == name and "2 times" in body["message"]


@pytest.mark.parametrize(("method", "path", "name", "values"), SCALARS)
def test_the_same_scalar_given_once_is_not_refused_for_repeating(
    client: FlaskClient, method: str, path: str, name: str, values: list[str]
) -> None:
    status, body = call(client, method, path, [(name, values[0])])
    assert status != 400 or body.get("field") != name or "times" not in body.get("message", "")


def test_list_parameters_keep_accepting_repeats(client: FlaskClient) -> None:
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    stored = client.post("/memory", json={"content": "repeat me", "tags": ["a", "b"]})
    assert stored.status_code == 201
    memory_id = stored.json["memory_id"]
    cases = [
        ("GET", "/recall", [("tags", "a"), ("tags", "b"), ("exclude_tags", "x"), ("exclude_tags", "y")], 200),
        ("GET", "/recall", [("queries", "repeat"), ("queries", "me")], 200),
        ("GET", "/memory/by-tag", [("tags", "a"), ("tags", "b")], 200),
        ("GET", "/memory/status", [("ids", memory_id), ("ids", ids[0])], 200),
        (
            "GET",
            f"/memories/{memory_id}/related",
            [("relationship_types", "RELATES_TO"), ("relationship_types", "LEADS_TO")],
            200,
        ),
    ]
    for method, path, params, expected in cases:
        status, body = call(client, method, path, params)
        assert status == expected, (path, params, body)
    status, body = call(client, "GET", "/memory/status", [("ids", memory_id), ("ids", ids[0])])
    assert body["unknown_ids"] == [ids[0]] and body["counts"]["pending"] == 1  # both values were read
    status, body = call(
        client,
        "GET",
        f"/memories/{memory_id}/related",
        [("relationship_types", "RELATES_TO"), ("relationship_types", "LEADS_TO")],
    )
    assert body["relationship_types"] == ["RELATES_TO", "LEADS_TO"]


def test_reprocess_merges_repeated_ids(client: FlaskClient) -> None:
    first = client.post("/memory", json={"content": "one"}).json["memory_id"]
    second = client.post("/memory", json={"content": "two"}).json["memory_id"]
    response = client.post(f"/enrichment/reprocess?ids={first}&ids={second}", headers={"X-Admin-Token": ADMIN})
    assert response.status_code == 202, response.json
    assert sorted(response.json["ids"]) == sorted([first, second])
