"""Recall's options beyond the basics (AutoMem's §5.1): each one's behaviour, not only that it is accepted.

priority_ids, auto_decompose, per_query_limit, scope_fallback, recency_bias, adaptive_floor,
context / language / active_path / context_tags / context_types, state_debug, the expansion
filters, and unknown parameters named in `warnings`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from loci.recall.candidates import Candidate
from loci.recall.decompose import decompose
from loci.recall.focus import Focus, language_of
from loci.recall.reranking import adaptive_floor, asks_for_latest
from loci.services import Services
from loci.timeutil import iso, utcnow
from tests.helpers import make_memory, store


def recall(client: FlaskClient, **params: Any) -> dict[str, Any]:
    response = client.get("/recall", query_string=params)
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def ids_of(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["results"]]


def item_of(body: dict[str, Any], memory_id: str) -> dict[str, Any]:
    return next(item for item in body["results"] if item["id"] == memory_id)


def link(client: FlaskClient, src: str, dst: str, kind: str, strength: float = 0.9) -> None:
    body = {"memory1_id": src, "memory2_id": dst, "type": kind, "strength": strength}
    assert client.post("/associate", json=body).status_code == 201


@pytest.fixture
def kitchen(client: FlaskClient, services: Services) -> dict[str, str]:
    texts = {
        "oven": "The oven runs hot, so bake bread ten degrees lower than the recipe says.",
        "knife": "The bread knife lives in the second drawer next to the sink.",
        "garden": "Tomatoes in the back garden need water every second evening.",
        "bike": "The bike's rear tyre needs pumping to 4 bar before long rides.",
    }
    ids = {name: store(client, text) for name, text in texts.items()}
    services.embedding_worker.drain()
    return ids


def test_priority_ids_are_in_the_results_first_whatever_the_query(
    client: FlaskClient, services: Services, kitchen: dict[str, str]
) -> None:
    plain = recall(client, query="baking bread temperature", limit=2)
    assert kitchen["bike"] not in ids_of(plain)
    body = recall(client, query="baking bread temperature", limit=2, priority_ids=kitchen["bike"])
    assert ids_of(body)[0] == kitchen["bike"] and body["count"] == 2
    assert body["results"][0]["score_components"]["priority"] == pytest.approx(0.9)
    assert body["context_priority"]["priority_ids"] == [kitchen["bike"]]
    # outside every filter asked for, read by id: still there
    scoped = recall(client, query="bread", tags="no-such-tag", priority_ids=kitchen["bike"])
    assert ids_of(scoped) == [kitchen["bike"]] and scoped["results"][0]["match_type"] == "priority_id"
    # several, repeated or comma-separated, more than the limit: all of them, nothing else
    both = recall(client, query="bread", limit=1, priority_ids=f"{kitchen['bike']},{kitchen['garden']}")
    assert set(ids_of(both)) == {kitchen["bike"], kitchen["garden"]}


def test_priority_ids_must_be_memory_ids(client: FlaskClient) -> None:
    response = client.get("/recall", query_string={"query": "x", "priority_ids": "not-an-id"})
    assert response.status_code == 400 and response.json["field"] == "priority_ids[0]"


def test_auto_decompose_searches_the_names_with_each_topic(client: FlaskClient, services: Services) -> None:
    assert decompose("What did Caroline say about the adoption agency?") == ["Caroline adoption", "Caroline agency"]
    assert decompose("what is the weather like") == []  # no names: nothing to narrow
    target = store(client, "Caroline's adoption papers finally came through on Friday.")
    for n in range(6):
        store(client, f"The agency newsletter number {n} says nothing about anyone in particular.")
    services.embedding_worker.drain()
    body = recall(client, query="What did Caroline say about the adoption agency?", auto_decompose="true", limit=3)
    assert body["queries"] == [
        "What did Caroline say about the adoption agency?",
        "Caroline adoption",
        "Caroline agency",
    ]
    assert ids_of(body)[0] == target


def test_per_query_limit_caps_each_query_of_a_multi_query_recall(client: FlaskClient, kitchen: dict[str, str]) -> None:
    body = recall(client, queries="bread oven,garden tomatoes", limit=5, per_query_limit=1)
    assert set(ids_of(body)) == {kitchen["oven"], kitchen["garden"]}
    wide = recall(client, queries="bread oven,garden tomatoes", limit=5)
    assert wide["count"] > 2


def test_scope_fallback_tops_up_from_outside_the_tags(client: FlaskClient, services: Services) -> None:
    inside = store(client, "Grafana dashboards for the payments service live in folder P.", tags=["payments"])
    outside = store(client, "Grafana alert rules are reviewed every quarter by the SRE team.")
    services.embedding_worker.drain()
    scoped = recall(client, query="Grafana dashboards and alerts", tags="payments", limit=3)
    assert ids_of(scoped) == [inside]
    body = recall(client, query="Grafana dashboards and alerts", tags="payments", limit=3, scope_fallback="true")
    assert ids_of(body)[0] == inside and outside in ids_of(body)
    assert item_of(body, outside)["outside_tag_scope"] is True and "outside_tag_scope" not in item_of(body, inside)
    assert body["scope_fallback"] == {"requested": True, "added": body["count"] - 1}


def test_recency_bias_orders_by_time_among_the_candidates(client: FlaskClient, services: Services) -> None:
    now = utcnow()
    old = store(client, "The staging database runs on host db-7.", timestamp=iso(now - timedelta(days=400)))
    new = store(client, "The staging database runs on host db-9.", timestamp=iso(now - timedelta(days=200)))
    services.embedding_worker.drain()
    body = recall(client, query="staging database host", recency_bias="on", limit=2)
    assert body["recency_bias"] == "on" and ids_of(body) == [new, old]
    assert item_of(body, new)["score_components"]["temporal"] == 1.0
    assert item_of(body, old)["score_components"]["temporal"] == 0.0
    # auto: on for a question about the latest state only
    assert asks_for_latest("what is the latest staging host?") and not asks_for_latest("staging host")
    assert recall(client, query="latest staging database host", recency_bias="auto")["recency_bias"] == "on"
    assert "recency_bias" not in recall(client, query="staging database host", recency_bias="auto")


def candidates(*scores: float) -> list[Candidate]:
    made = []
    for n, score in enumerate(scores):
        candidate = Candidate(make_memory(f"memory {n}", id=f"m{n}"), "vector", "qdrant")
        candidate.score = score
        made.append(candidate)
    return made


def test_adaptive_floor_cuts_at_a_cliff_and_keeps_half() -> None:
    kept, cut = adaptive_floor(candidates(0.9, 0.88, 0.86, 0.30, 0.29, 0.28))
    assert [c.id for c in kept] == ["m0", "m1", "m2"] and cut == 3
    gentle, none = adaptive_floor(candidates(0.9, 0.8, 0.7, 0.6, 0.5, 0.4))  # no gap over a quarter of the top
    assert len(gentle) == 6 and none == 0
    early, _ = adaptive_floor(candidates(0.9, 0.2, 0.19, 0.18, 0.17, 0.16))  # cutting would keep fewer than half
    assert len(early) == 6
    pinned, _ = adaptive_floor(candidates(0.9, 0.88, 0.86, 0.30, 0.29, 0.28), keep=frozenset({"m5"}))
    assert [c.id for c in pinned] == ["m0", "m1", "m2", "m5"]


def test_adaptive_floor_through_the_api(client: FlaskClient, services: Services) -> None:
    store(client, "Release 4.2 shipped the new invoice exporter.")
    for n in range(5):
        store(client, f"Gardening note {n}: compost turns faster in summer heat.")
    services.embedding_worker.drain()
    body = recall(client, query="Release 4.2 invoice exporter shipped", limit=6, adaptive_floor="true")
    assert body["score_filter"]["adaptive_floor"] is True
    assert body["count"] + body["score_filter"]["filtered_count"] == 6
    off = recall(client, query="Release 4.2 invoice exporter shipped", limit=6, adaptive_floor="false")
    assert off["count"] == 6


def test_language_and_active_path_favour_that_language(client: FlaskClient, services: Services) -> None:
    assert language_of("py", None) == "python" and language_of(None, "src/app/main.TS") == "typescript"
    assert language_of(None, "notes.txt") is None and language_of("cobol", None) is None
    python = store(client, "Prefer dataclasses over dicts for records passed between modules.", tags=["python"])
    go = store(client, "Prefer small structs over maps for records passed between packages.", tags=["go"])
    services.embedding_worker.drain()
    for params in ({"language": "python"}, {"lang": "py"}, {"active_path": "loci/recall/engine.py"}):
        body = recall(client, query="records passed between modules", limit=2, **params)
        assert ids_of(body)[0] == python, params
        assert item_of(body, python)["score_components"]["priority"] >= 0.45
        assert item_of(body, go)["score_components"]["priority"] == 0.0
        assert body["context_priority"]["language"] == "python"
    golang = recall(client, query="records passed between modules", limit=2, file_path="cmd/server/main.go")
    assert ids_of(golang)[0] == go


def test_a_style_context_favours_style_and_preference_memories(client: FlaskClient, services: Services) -> None:
    style = store(client, "Indent with four spaces and keep lines under 100 characters.", type="Style")
    fact = store(client, "The office closes at six and the lights go off at seven.", type="Context")
    services.embedding_worker.drain()
    body = recall(client, query="lines and spaces", context="coding style", limit=2)
    assert item_of(body, style)["score_components"]["priority"] == pytest.approx(0.25 + 0.45 * 0)  # type hit
    assert item_of(body, fact)["score_components"]["priority"] == 0.0
    assert "Style" in body["context_priority"]["priority_types"]


def test_context_tags_and_types_are_soft_boosts(client: FlaskClient, services: Services) -> None:
    tagged = store(client, "Weekly sync notes: the roadmap review moved to Thursday.", tags=["team/platform"])
    decision = store(client, "We decided the roadmap review stays monthly.", type="Decision")
    plain = store(client, "Roadmap review slides are in the shared drive.")
    services.embedding_worker.drain()
    body = recall(client, query="roadmap review", context_tags="team:platform", context_types="decision", limit=3)
    assert set(ids_of(body)) == {tagged, decision, plain}  # a boost, never a filter
    assert item_of(body, tagged)["score_components"]["priority"] == pytest.approx(0.45)  # `/` and `:` are one
    assert item_of(body, decision)["score_components"]["priority"] == pytest.approx(0.25)
    assert item_of(body, plain)["score_components"]["priority"] == 0.0
    bad = client.get("/recall", query_string={"query": "x", "context_types": "not-a-type"})
    assert bad.status_code == 400 and bad.json["field"] == "context_types"


def test_a_focus_no_result_fits_brings_one_that_does(client: FlaskClient, services: Services) -> None:
    for n in range(4):
        store(client, f"Parking garage level {n} is reserved for visitors.")
    fitting = store(client, "Use ruff for formatting and linting.", tags=["python"])
    services.embedding_worker.drain()
    body = recall(client, query="parking garage visitors", limit=3, language="python")
    assert ids_of(body)[-1] == fitting and body["count"] == 3
    assert item_of(body, fitting)["match_type"] == "context" and body["context_priority"]["injected"] is True
    assert recall(client, query="parking garage visitors", limit=3)["count"] == 3  # no focus: nothing injected
    assert "context_priority" not in recall(client, query="parking garage visitors", limit=3)


def test_state_debug_lists_what_the_current_state_dropped(client: FlaskClient, services: Services) -> None:
    old = store(client, "The VPN gateway address is 10.0.0.1.")
    new = store(client, "The VPN gateway address is now 10.0.0.9.")
    link(client, old, new, "INVALIDATED_BY")
    expired = store(client, "The VPN gateway is down for maintenance.", t_invalid=iso(utcnow() - timedelta(days=1)))
    services.embedding_worker.drain()
    quiet = recall(client, query="VPN gateway address", limit=5)
    assert quiet["state_filter"]["suppressed_count"] == 2 and "suppressed" not in quiet["state_filter"]
    body = recall(client, query="VPN gateway address", limit=5, state_debug="true")
    assert set(body["state_filter"]["suppressed"]) == {old, expired}
    assert body["state_filter"]["replacements"] in ([], [{"replaced": old, "by": new}])
    assert new in ids_of(body)


def test_expansion_filters(client: FlaskClient, services: Services) -> None:
    seed = store(client, "The nightly ETL job failed with an out-of-memory error.", tags=["etl"])
    strong = store(client, "Raised the ETL worker memory limit to 8 GiB.", importance=0.9, tags=["etl"])
    weak = store(client, "Someone mentioned memory once in standup.", importance=0.9, tags=["etl"])
    minor = store(client, "A dashboard tile about the job was renamed.", importance=0.1, tags=["etl"])
    untagged = store(client, "Ticket OPS-12 tracks the ETL memory work.", importance=0.9)
    link(client, seed, strong, "LEADS_TO", 0.9)
    link(client, seed, weak, "RELATES_TO", 0.1)
    link(client, seed, minor, "RELATES_TO", 0.9)
    link(client, seed, untagged, "RELATES_TO", 0.9)
    services.embedding_worker.drain()
    query = {"query": "nightly ETL job out-of-memory failure", "limit": 10, "tags": "etl", "expand_relations": "true"}
    everything = {i["id"] for i in recall(client, **query)["results"] if i["match_type"] == "relation"}
    assert {strong, weak, minor, untagged} <= everything | {strong, weak, minor}  # tags do not bind expansion
    assert untagged in everything
    body = recall(client, **query, expand_respect_tags="true", expand_min_importance=0.5, expand_min_strength=0.5)
    expanded = {i["id"] for i in body["results"] if i["match_type"] == "relation"}
    assert untagged not in expanded and weak not in expanded and minor not in expanded
    assert body["expansion"]["respect_tags"] is True and body["expansion"]["min_strength"] == 0.5


def test_unknown_parameters_are_named_in_warnings(client: FlaskClient, kitchen: dict[str, str]) -> None:
    body = recall(client, query="bread", limit=2, frobnicate="yes", expand_magic="1")
    assert any("expand_magic" in w and "frobnicate" in w for w in body["warnings"])
    clean = recall(client, query="bread", limit=2, lang="python", focus_path="x.py", entity_expansion="false")
    assert not [w for w in clean.get("warnings", []) if "unknown" in w]


def test_focus_bonus_rules() -> None:
    focus = Focus.of(
        priority_ids=["m1"], context_tags=["infra"], context_types=["Decision"], language="go",
        active_path=None, context=None,
    )  # fmt: skip
    hit = make_memory("x", id="m1", tags=["infra/network"], type="Decision", metadata={"stack": ["golang"]})
    assert focus.bonus(hit) == pytest.approx(0.90 + 0.45 + 0.25 + 0.20)
    assert focus.bonus(make_memory("x", id="m2")) == 0.0


def test_expand_entities_brings_memories_that_share_an_entity(client: FlaskClient, services: Services) -> None:
    seed = store(client, "Met with Priya Raman to go over the quarterly budget spreadsheet.", tags=["work"])
    shared = store(client, "Priya Raman takes her coffee black, no sugar.")
    store(client, "The office plants get watered on Mondays.", tags=["work"])
    services.embedding_worker.drain()
    services.enrichment_worker.drain()  # Entity nodes and REFERENCED_IN edges
    services.embedding_worker.drain()
    query = {"query": "quarterly budget spreadsheet", "tags": "work", "limit": 3}
    assert shared not in ids_of(recall(client, **query))  # outside the tags: only an entity reaches it
    body = recall(client, **query, expand_entities="true")
    assert ids_of(body)[0] == seed and shared in ids_of(body)
    item = item_of(body, shared)
    assert item["match_type"] == "entity_expansion" and item["related_to"] == seed
    assert item["expanded_from_entity"] == "entity:people:priya-raman"
    assert item["score_components"]["entity"] == pytest.approx(0.15)
    assert body["entity_expansion"]["entities_found"] == ["entity:people:priya-raman"]
    assert shared in ids_of(recall(client, **query, entity_expansion="1"))  # AutoMem's other name
    assert shared not in ids_of(recall(client, **query, expand_entities="true", expand_respect_tags="true"))
