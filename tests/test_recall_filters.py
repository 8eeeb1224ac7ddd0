"""/recall's `types` and `min_importance` (Loci's own filters), through both vector-filter translations.

Each test runs three times: on the embedded store (`to_edge_filter`), on qdrant-client's local mode
(`QDRANT_URL=:memory:`, `to_client_filter`) and on FalkorDB's vector index (`VECTOR_STORE=falkordb`,
the graph's own `filter_clause`), with queries, without one (the graph listing) and
with a time window, by GET and by POST.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from loci.services import Services
from loci.stores.falkordb_vectors import FalkorVectorStore
from loci.stores.filters import MemoryFilter
from loci.stores.qdrant_embedded import EmbeddedQdrantStore
from loci.stores.qdrant_server import QdrantServerStore
from loci.timeutil import iso, utcnow
from tests.helpers import store

STORES: dict[str, dict[str, Any]] = {
    "embedded": {},
    "client": {"qdrant_url": ":memory:"},
    "falkordb": {"vector_store": "falkordb"},
}


@pytest.fixture(params=list(STORES))
def app(request: pytest.FixtureRequest, make_app: Callable[..., Flask]) -> Flask:
    return make_app(**STORES[request.param])


def recall(client: FlaskClient, **params: Any) -> dict[str, Any]:
    response = client.get("/recall", query_string=params)
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def ids_of(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["results"]]


@pytest.fixture
def coffee(client: FlaskClient, services: Services) -> dict[str, str]:
    """Four memories about coffee, of three types and importances, stored 1 to 4 days ago."""
    now = utcnow()
    ids = {
        name: store(client, text, type=kind, importance=importance, timestamp=iso(now - timedelta(days=age)))
        for name, text, kind, importance, age in (
            ("decision", "We decided the office buys coffee beans from the roastery", "Decision", 0.9, 1),
            ("habit", "Priya drinks coffee every morning at nine", "Habit", 0.3, 2),
            ("preference", "Sam prefers coffee without sugar", "Preference", 0.6, 3),
            ("old_decision", "We decided the office switches to decaf coffee", "Decision", 0.4, 4),
        )
    }
    services.embedding_worker.drain()
    return ids


def test_the_vector_store_in_use(services: Services, request: pytest.FixtureRequest) -> None:
    kinds = {"embedded": EmbeddedQdrantStore, "client": QdrantServerStore, "falkordb": FalkorVectorStore}
    assert isinstance(services.vectors, kinds[request.node.callspec.params["app"]])


def test_types_filter_queries_listings_and_windows(client: FlaskClient, coffee: dict[str, str]) -> None:
    decisions = {coffee["decision"], coffee["old_decision"]}
    assert set(ids_of(recall(client))) == set(coffee.values())
    searched = recall(client, query="coffee", types="Decision", limit=10)
    assert set(ids_of(searched)) == decisions and searched["types"] == ["Decision"]
    assert searched["vector_search"]["matched"] == 2  # the vector side found them, under its own filter
    listed = recall(client, type="decision,habit", limit=10)  # no query: the graph listing
    assert set(ids_of(listed)) == decisions | {coffee["habit"]} and listed["types"] == ["Decision", "Habit"]
    repeated = recall(client, types=["Habit", "preference"], query="coffee")
    assert set(ids_of(repeated)) == {coffee["habit"], coffee["preference"]}
    now = utcnow()
    window = recall(client, types="Decision", start=iso(now - timedelta(days=2)), end=iso(now))
    assert ids_of(window) == [coffee["decision"]] and "time_window" in window
    assert "types" not in recall(client, query="coffee")  # echoed only when given


def test_min_importance_queries_listings_and_windows(client: FlaskClient, coffee: dict[str, str]) -> None:
    important = {coffee["decision"], coffee["preference"]}
    searched = recall(client, query="coffee", min_importance="0.5", limit=10)
    assert set(ids_of(searched)) == important and searched["min_importance"] == 0.5
    assert set(ids_of(recall(client, min_importance=0.6, limit=10))) == important  # inclusive bound
    both = recall(client, query="coffee", min_importance=0.35, types="Decision", limit=10)
    assert set(ids_of(both)) == {coffee["decision"], coffee["old_decision"]}
    now = utcnow()
    window = recall(client, min_importance=0.5, start=iso(now - timedelta(days=5)), end=iso(now))
    assert ids_of(window) == [coffee["decision"], coffee["preference"]]  # time_desc in a window
    assert recall(client, query="coffee", min_importance=7)["min_importance"] == 1.0  # clamped, as AutoMem clamps
    assert "min_importance" not in recall(client, query="coffee")


def test_post_body_takes_the_same_filters(client: FlaskClient, coffee: dict[str, str]) -> None:
    response = client.post("/recall", json={"query": "coffee", "types": ["Decision"], "min_importance": 0.5})
    assert response.status_code == 200, response.json
    assert ids_of(response.json) == [coffee["decision"]]
    assert response.json["types"] == ["Decision"] and response.json["min_importance"] == 0.5
    aliased = client.post("/recall", json={"type": "habit"})
    assert ids_of(aliased.json) == [coffee["habit"]]


def test_a_raised_importance_counts_before_the_payload_is_rewritten(client: FlaskClient, services: Services) -> None:
    """PATCH raises importance on the record at once; the vector payload keeps the old value until the
    embedding worker runs. The memory must be recalled by its record, found by the vector search alone."""
    memory_id = store(client, "Quarterly planning happens in the glass room", importance=0.2)
    services.embedding_worker.drain()
    assert client.patch(f"/memory/{memory_id}", json={"importance": 0.9}).status_code == 200
    (point,) = services.vectors.retrieve([memory_id])
    # the payload lags (the worker has not run), except on FalkorDB, where the payload is the node itself
    assert point.payload["importance"] == (0.9 if services.vectors.on_graph else 0.2)
    body = recall(client, query="where does quarterly planning happen", min_importance=0.8)
    assert ids_of(body) == [memory_id] and body["results"][0]["source"] == "qdrant"
    # and the other way round: lowered on the record, the stale payload does not let it through
    assert client.patch(f"/memory/{memory_id}", json={"importance": 0.1}).status_code == 200
    assert ids_of(recall(client, query="where does quarterly planning happen", min_importance=0.8)) == []


def test_vector_filter_narrows_by_type(services: Services, coffee: dict[str, str]) -> None:
    vector = services.provider.embed(["coffee"])[0]
    hits = services.vectors.search(vector, 10, MemoryFilter(types=("Habit", "Preference")))
    assert {hit.id for hit in hits} == {coffee["habit"], coffee["preference"]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"types": "Decision,Gossip"}, "types"),
        ({"type": "nonsense"}, "type"),
        ({"min_importance": "high"}, "min_importance"),
        ({"min_importance": "nan"}, "min_importance"),
    ],
)
def test_bad_filters_are_400(client: FlaskClient, params: dict[str, str], field: str) -> None:
    response = client.get("/recall", query_string={"query": "x", **params})
    assert response.status_code == 400 and response.json["field"] == field
    if "type" in field:
        assert "Decision, Pattern, Preference" in response.json["message"]  # the known types are listed
    posted = client.post("/recall", json={"query": "x", **params})
    assert posted.status_code == 400 and posted.json["field"] == field
