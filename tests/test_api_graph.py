"""The graph viewer API (/graph/*), against the real FalkorDB and vector store.

Snapshot filters, edges only among the nodes shown, honest and deterministic sampling
over the limit (paged by id), neighbourhoods by hops and by vector, counts, and malformed
numbers answered 400 naming the field. The pages at /viewer/ are tests/test_ui_pages.py's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from loci.services import Services
from loci.stores.graph.explore import SnapshotFilter
from loci.timeutil import iso, utcnow
from tests.helpers import store


def link(client: FlaskClient, source: str, target: str, kind: str = "RELATES_TO", strength: float = 0.5) -> None:
    response = client.post(
        "/associate", json={"memory1_id": source, "memory2_id": target, "type": kind, "strength": strength}
    )
    assert response.status_code == 201, response.json


def snapshot(client: FlaskClient, query: str = "") -> dict[str, Any]:
    response = client.get(f"/graph/snapshot{query}")
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.json
    return body


def node_ids(body: dict[str, Any], key: str = "nodes") -> list[str]:
    return [node["id"] for node in body[key]]


# --- snapshot
def test_snapshot_filters_by_type_importance_and_since(client: FlaskClient) -> None:
    old = iso(utcnow() - timedelta(days=30))
    decision = store(client, "use postgres", type="Decision", importance=0.9, confidence=0.5, metadata={"k": 1})
    habit = store(client, "runs every morning", type="Habit", importance=0.3)
    dated = store(client, "an old insight", type="Insight", importance=0.6, timestamp=old)

    everything = snapshot(client)
    assert set(node_ids(everything)) == {decision, habit, dated}
    assert set(node_ids(snapshot(client, "?types=Decision,habit"))) == {decision, habit}  # aliases canonicalised
    assert set(node_ids(snapshot(client, "?types=Decision&types=Insight"))) == {decision, dated}  # or repeated
    assert set(node_ids(snapshot(client, "?min_importance=0.5"))) == {decision, dated}
    since = iso(utcnow() - timedelta(days=1)).replace("+00:00", "Z")
    assert set(node_ids(snapshot(client, f"?since={since}"))) == {decision, habit}

    node = next(n for n in everything["nodes"] if n["id"] == decision)
    assert node["type"] == "Decision" and node["content"] == "use postgres" and node["metadata"] == {"k": 1}
    assert node["color"] == everything["meta"]["type_colors"]["Decision"]
    assert node["radius"] == pytest.approx(0.5 + 1.5 * 0.9) and node["opacity"] == pytest.approx(0.4 + 0.6 * 0.5)
    assert "status" not in everything  # AutoMem's viewer API has no envelope on success


def test_snapshot_edges_only_between_returned_nodes(client: FlaskClient) -> None:
    a = store(client, "first decision", type="Decision")
    b = store(client, "second decision", type="Decision")
    c = store(client, "a habit", type="Habit")
    link(client, a, b, "LEADS_TO", 0.8)
    link(client, b, c, "RELATES_TO")

    whole = snapshot(client)
    assert {(e["source"], e["type"], e["target"]) for e in whole["edges"]} == {(a, "LEADS_TO", b), (b, "RELATES_TO", c)}
    shown = snapshot(client, "?types=Decision")
    assert [(e["id"], e["strength"]) for e in shown["edges"]] == [(f"{a}-LEADS_TO-{b}", 0.8)]
    edge = shown["edges"][0]
    assert edge["color"] == shown["meta"]["relation_colors"]["LEADS_TO"] and edge["properties"]["strength"] == 0.8
    assert shown["stats"]["total_edges"] == 2 and shown["stats"]["returned_edges"] == 1


def test_snapshot_above_the_limit_keeps_the_most_important_and_says_so(client: FlaskClient) -> None:
    ids = [store(client, f"memory number {i}", importance=i / 20) for i in range(12)]
    top = list(reversed(ids))[:5]

    sampled = snapshot(client, "?limit=5")
    assert node_ids(sampled) == top
    stats = sampled["stats"]
    assert (stats["returned_nodes"], stats["matching_nodes"], stats["total_nodes"]) == (5, 12, 12)
    assert stats["sampled"] is True and stats["sample_ratio"] == pytest.approx(5 / 12)
    assert node_ids(snapshot(client, "?limit=5")) == top  # the same sample every time

    every = snapshot(client, "?limit=0")
    assert len(every["nodes"]) == 12 and every["stats"]["sampled"] is False and every["stats"]["sample_ratio"] == 1.0
    filtered = snapshot(client, "?min_importance=0.5")  # a filter is not sampling
    assert filtered["stats"]["sampled"] is False and filtered["stats"]["matching_nodes"] == 2


def test_ranking_pages_through_the_graph_by_id(client: FlaskClient, services: Services) -> None:
    ids = [store(client, f"ranked memory {i}", importance=round((i * 7 % 10) / 10, 1)) for i in range(9)]
    explore = services.graph.explore
    one_page = explore.ranked(SnapshotFilter(), 4)
    small_pages = explore.ranked(SnapshotFilter(), 4, page_size=2)
    assert small_pages == one_page and one_page.matching == 9
    importance = {memory.id: memory.importance for memory in explore.memories(ids)}
    ranked = [importance[memory_id] for memory_id in one_page.ids]
    assert ranked == sorted(importance.values(), reverse=True)[:4]


MALFORMED = [
    ("/graph/snapshot?limit=abc", "limit"),
    ("/graph/snapshot?limit=-1", "limit"),
    ("/graph/snapshot?limit=2.5", "limit"),
    ("/graph/snapshot?min_importance=high", "min_importance"),
    ("/graph/snapshot?min_importance=nan", "min_importance"),
    ("/graph/snapshot?since=yesterday", "since"),
    ("/graph/neighbors/{id}?depth=two", "depth"),
    ("/graph/neighbors/{id}?semantic_limit=1e3", "semantic_limit"),
    ("/graph/neighbors/{id}?include_semantic=maybe", "include_semantic"),
]


@pytest.mark.parametrize(("url", "field"), MALFORMED)
def test_malformed_parameters_are_400_naming_the_field(client: FlaskClient, url: str, field: str) -> None:
    memory_id = store(client)
    response = client.get(url.format(id=memory_id))
    assert response.status_code == 400
    assert response.json["status"] == "error" and response.json["field"] == field
    assert f"'{field}'" in response.json["message"]


# --- neighbours
def test_neighbors_by_depth(client: FlaskClient) -> None:
    a, b, c, d = (store(client, f"link {name} in a chain", importance=0.5) for name in "abcd")
    link(client, a, b)
    link(client, c, b, "LEADS_TO")  # either direction counts
    link(client, c, d)

    one = client.get(f"/graph/neighbors/{a}?include_semantic=false").json
    assert one["center"]["id"] == a and "color" in one["center"]
    assert node_ids(one, "graph_neighbors") == [b] and one["graph_neighbors"][0]["hops"] == 1
    assert [(e["source"], e["target"]) for e in one["edges"]] == [(a, b)]
    assert one["meta"]["depth"] == 1 and one["meta"]["semantic"] == "off"

    two = client.get(f"/graph/neighbors/{a}?depth=2&include_semantic=false").json
    assert {n["id"]: n["hops"] for n in two["graph_neighbors"]} == {b: 1, c: 2}
    assert {e["id"] for e in two["edges"]} == {f"{a}-RELATES_TO-{b}", f"{c}-LEADS_TO-{b}"}

    clamped = client.get(f"/graph/neighbors/{a}?depth=9&include_semantic=false").json
    assert clamped["meta"]["depth"] == 3 and {n["id"] for n in clamped["graph_neighbors"]} == {b, c, d}


def test_semantic_neighbors_come_from_the_vector_store_once_embedded(make_app: Callable[..., Flask]) -> None:
    app = make_app(enrichment_similarity_limit=0)  # no SIMILAR_TO links: nearness shows only through vectors
    client, services = app.test_client(), app.extensions["loci"]
    center = store(client, "The cat sat on the warm windowsill in the sun")
    similar = store(client, "A cat was sitting on a sunny windowsill")
    unrelated = store(client, "Quarterly tax filing deadlines for small businesses")
    linked = store(client, "The cat sleeps on the windowsill every afternoon")
    link(client, center, linked)

    before = client.get(f"/graph/neighbors/{center}").json
    assert before["semantic_neighbors"] == [] and before["meta"]["semantic"] == "not_embedded"

    services.embedding_worker.drain()
    after = client.get(f"/graph/neighbors/{center}?semantic_limit=2").json
    assert after["meta"]["semantic"] == "ok"
    found = after["semantic_neighbors"]
    # nearest first; the centre itself and its graph neighbour (shown already) are left out
    assert node_ids(after, "semantic_neighbors") == [similar, unrelated]
    assert 0 <= found[1]["similarity"] < 0.5 < found[0]["similarity"] <= 1
    assert found[0]["content"] == "A cat was sitting on a sunny windowsill" and "radius" in found[0]
    assert node_ids(after, "graph_neighbors") == [linked]
    one = client.get(f"/graph/neighbors/{center}?semantic_limit=1").json
    assert node_ids(one, "semantic_neighbors") == [similar]


def test_neighbors_of_a_missing_memory(client: FlaskClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    response = client.get(f"/graph/neighbors/{missing}")
    assert response.status_code == 404 and missing in response.json["message"]
    assert client.get("/graph/neighbors/not-a-uuid").status_code == 400


# --- counts and palettes
def test_stats_counts(client: FlaskClient, services: Services) -> None:
    today = utcnow().date().isoformat()
    a = store(client, "decide on a database", type="Decision", importance=0.9)
    b = store(client, "decide on a queue", type="Decision", importance=0.6)
    c = store(client, "walk at noon", type="Habit", importance=0.2)
    store(client, "an old one", type="Habit", importance=0.5, timestamp=iso(utcnow() - timedelta(days=40)))
    link(client, a, b, "LEADS_TO")
    link(client, b, c)
    services.graph.query("MATCH (a:Memory {id: $a}), (c:Memory {id: $c}) CREATE (a)-[:EXPLAINS]->(c)", {"a": a, "c": c})

    response = client.get("/graph/stats")
    assert response.status_code == 200
    body = response.json
    assert body["totals"] == {"nodes": 4, "edges": 3}
    assert body["by_type"] == {"Decision": 2, "Habit": 2}
    assert body["by_relationship"] == {
        "DISCOVERED": 1,
        "LEADS_TO": 1,
        "RELATES_TO": 1,
    }  # a legacy label read as AutoMem does
    assert body["importance_distribution"] == {"high": 1, "medium": 2, "low": 1}
    assert body["recent_activity"] == [{"date": today, "count": 3}]
    assert body["meta"]["archive_threshold"] == 0.0 and body["meta"]["type_colors"]["Habit"]

    discovered = snapshot(client, "?types=Decision,Habit")["edges"]
    assert {(e["type"], e["properties"].get("kind")) for e in discovered if e["target"] == c and e["source"] == a} == {
        ("DISCOVERED", "explains")
    }


def test_types_and_relations(client: FlaskClient) -> None:
    types = client.get("/graph/types").json
    assert types["types"] == ["Decision", "Pattern", "Preference", "Style", "Habit", "Insight", "Context"]
    assert set(types["types"]) <= set(types["colors"])
    relations = client.get("/graph/relations").json
    assert len(relations["relations"]) == 13 and "DISCOVERED" not in relations["relations"]
    assert {"SIMILAR_TO", "PRECEDED_BY", "RELATES_TO"} <= set(relations["relations"])
    assert all(re.fullmatch(r"#[0-9A-F]{6}", relations["colors"][name]) for name in relations["relations"])


def test_graph_routes_need_the_token(make_app: Callable[..., Flask]) -> None:
    client = make_app(api_token="graph-token").test_client()
    for path in ("/graph/snapshot", "/graph/stats", "/graph/types", "/graph/relations"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer graph-token"}).status_code == 200
