"""GET /recall: meaning, words, tags, time, current state, expansion, sorting, bad input, outages."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from qdrant_client import QdrantClient

from loci.recall.params import RecallParams, SortMode
from loci.recall.scoring import Components, Weights, WordSet, idf, keyword_score
from loci.services import Services
from loci.stores.falkordb_server import free_port
from loci.stores.qdrant_server import QdrantServerStore
from loci.timeutil import iso, utcnow
from tests.helpers import store

FACTS = {
    "db": "The team settled on PostgreSQL as the primary database for the billing service.",
    "run": "Priya goes jogging along the river before work.",
    "cat": "Miso the cat knocks glasses off the kitchen table.",
    "deploy": "Deployments to production happen on Tuesdays after the standup.",
    "food": "Sam is allergic to peanuts and avoids Thai restaurants.",
    "trip": "The offsite in Lisbon is planned for the second week of May.",
}


@pytest.fixture
def facts(client: FlaskClient, services: Services) -> dict[str, str]:
    ids = {name: store(client, text) for name, text in FACTS.items()}
    services.embedding_worker.drain()
    return ids


def recall(client: FlaskClient, **params: Any) -> dict[str, Any]:
    response = client.get("/recall", query_string=params)
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def ids_of(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["results"]]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Which SQL engine do we store invoices in?", "db"),
        ("Who likes running in the morning?", "run"),
        ("What does the pet do at home?", "cat"),
        ("When do we ship releases?", "deploy"),
        ("Does anyone have a food allergy?", "food"),
    ],
)
def test_recall_by_meaning_ranks_the_answer_first(
    client: FlaskClient, facts: dict[str, str], question: str, expected: str
) -> None:
    body = recall(client, query=question, limit=3)
    assert body["results"][0]["id"] == facts[expected]
    assert body["vector_search"]["enabled"] is True
    assert body["results"][0]["match_type"] == "vector"


def test_scores_are_explained(client: FlaskClient, facts: dict[str, str]) -> None:
    body = recall(client, query="PostgreSQL database", limit=6)
    top = body["results"][0]
    assert top["id"] == facts["db"]
    parts = top["score_components"]
    assert set(parts) == {
        "vector", "keyword", "tag", "importance", "confidence", "recency", "exact", "relation", "context",
        "temporal", "priority", "entity",
    }  # fmt: skip
    assert parts["keyword"] == 1.0  # both words appear in the content
    weights = Weights()
    assert top["score"] == pytest.approx(sum(getattr(weights, k) * v for k, v in parts.items()), abs=1e-3)
    assert body["keywords"] == ["postgresql", "database"]
    assert body["count"] == len(body["results"]) <= 6


def test_results_carry_the_whole_memory(client: FlaskClient, services: Services) -> None:
    memory_id = store(client, "The Lisbon offsite budget is 40k", metadata={"source": "finance"}, tags=["budget"])
    services.embedding_worker.drain()
    (item,) = recall(client, query="offsite budget", limit=1)["results"]
    assert item["id"] == memory_id
    assert item["memory"]["metadata"] == {"source": "finance"} and item["memory"]["embedding_status"] == "completed"


def test_keyword_channel_finds_rare_words(client: FlaskClient, facts: dict[str, str]) -> None:
    body = recall(client, query="Lisbon", limit=2)
    assert body["results"][0]["id"] == facts["trip"]
    assert body["results"][0]["score_components"]["keyword"] == 1.0


def test_rare_query_words_weigh_more_than_common_ones(client: FlaskClient, services: Services) -> None:
    common = [store(client, f"Caroline talked about her week, part {n}.", tags=["chat"]) for n in range(8)]
    rare = store(client, "The adoption agency called back about the interview.", tags=["chat"])
    services.embedding_worker.drain()
    body = recall(client, query="What did Caroline hear from the adoption agency?", tags="chat", limit=9)
    keyword = {item["id"]: item["score_components"]["keyword"] for item in body["results"]}
    # "adoption" and "agency" are in one memory of nine, "caroline" in eight: together they weigh far more
    assert keyword[rare] > 0.7
    assert 0 < max(keyword[i] for i in common) < 0.3
    assert body["results"][0]["id"] == rare


def test_context_scores_a_memory_by_its_neighbours_in_time(client: FlaskClient, services: Services) -> None:
    start = utcnow() - timedelta(days=3)
    turns = [
        "Melanie: How was the camping trip with your family last weekend?",
        "Caroline: Wonderful, we watched the Perseid meteor shower by the lake.",
        "Melanie: My sourdough starter finally rose this morning.",
    ]
    ids = [
        store(client, text, tags=["conversation:c1"], timestamp=iso(start + timedelta(seconds=n)))
        for n, text in enumerate(turns)
    ]
    services.embedding_worker.drain()
    services.enrichment_worker.drain()  # PRECEDED_BY links in time order
    body = recall(client, query="Where did Caroline go camping with her family?", tags="conversation:c1", limit=3)
    results = {item["id"]: item for item in body["results"]}
    weights = Weights()

    def match(item: dict[str, Any]) -> float:
        parts = item["score_components"]
        return (weights.vector * parts["vector"] + weights.keyword * parts["keyword"]) / (
            weights.vector + weights.keyword
        )

    question, answer, later = (results[i] for i in ids)
    # the answer's context is how well the question just before it matches; the next turn's is the answer's
    assert answer["score_components"]["context"] == pytest.approx(max(match(question), match(later)), abs=1e-3)
    assert later["score_components"]["context"] == pytest.approx(match(answer), abs=1e-3)
    assert question["score_components"]["context"] == pytest.approx(match(answer), abs=1e-3)
    for item in results.values():
        total = sum(getattr(weights, k) * v for k, v in item["score_components"].items())
        assert item["score"] == pytest.approx(total, abs=1e-3)


def test_tag_filters(client: FlaskClient, services: Services) -> None:
    x = store(client, "Loci uses FalkorDB", tags=["Project:Loci", "db"])
    y = store(client, "Atlas uses FalkorDB too", tags=["project:atlas"])
    z = store(client, "FalkorDB release notes", tags=["news"])
    services.embedding_worker.drain()
    assert set(ids_of(recall(client, query="FalkorDB", tags="project"))) == {x, y}
    assert set(ids_of(recall(client, query="FalkorDB", tags="project", tag_match="exact"))) == set()
    assert set(ids_of(recall(client, query="FalkorDB", tags="project:loci", tag_match="exact"))) == {x}
    assert set(ids_of(recall(client, query="FalkorDB", tags=["project:loci", "db"], tag_mode="all"))) == {x}
    assert set(ids_of(recall(client, query="FalkorDB", tags="project:loci,news"))) == {x, z}
    assert set(ids_of(recall(client, query="FalkorDB", exclude_tags="project"))) == {z}
    listed = recall(client, tags="news")  # no query: the tag alone lists memories
    assert ids_of(listed) == [z] and listed["results"][0]["match_type"] == "trending"


def test_time_windows(client: FlaskClient, services: Services) -> None:
    now = utcnow()
    recent = store(client, "standup notes about the release", timestamp=iso(now - timedelta(days=2)))
    older = store(client, "standup notes about hiring", timestamp=iso(now - timedelta(days=40)))
    services.embedding_worker.drain()
    assert ids_of(recall(client, query="standup notes", time_query="last 7 days")) == [recent]
    assert set(ids_of(recall(client, query="standup notes", time_query="this year"))) <= {recent, older}
    window = recall(client, start=iso(now - timedelta(days=60)), end=iso(now - timedelta(days=30)))
    assert ids_of(window) == [older] and window["sort"] == "time_desc"
    assert window["time_window"]["start"].startswith(iso(now - timedelta(days=60))[:10])
    unknown = recall(client, query="standup notes", time_query="around the solstice")
    assert unknown["warnings"] and set(ids_of(unknown)) == {recent, older}


def test_superseded_memories_are_replaced_by_their_successor(client: FlaskClient, services: Services) -> None:
    old = store(client, "Our CI runs on Jenkins")
    new = store(client, "We moved continuous integration to GitHub Actions")
    client.post("/associate", json={"memory1_id": old, "memory2_id": new, "type": "EVOLVED_INTO"})
    services.embedding_worker.drain()
    current = recall(client, query="Jenkins", limit=5)
    assert old not in ids_of(current)
    replacement = next(r for r in current["results"] if r["id"] == new)
    assert replacement.get("state_replaces") == old or replacement["match_type"] != "state_replacement"
    assert current["state_filter"]["suppressed_count"] >= 1
    history = recall(client, query="Jenkins", limit=5, state_mode="history")
    assert old in ids_of(history)
    assert old in ids_of(recall(client, query="Jenkins", limit=5, current_only="false"))


def test_only_the_newest_of_a_long_chain_is_recalled(client: FlaskClient, services: Services) -> None:
    versions = [store(client, f"The team lunch venue is restaurant number {n}") for n in range(8)]
    for old, new in itertools.pairwise(versions):
        client.post("/associate", json={"memory1_id": old, "memory2_id": new, "type": "EVOLVED_INTO"})
    services.embedding_worker.drain()
    assert ids_of(recall(client, query="team lunch venue", limit=10)) == [versions[-1]]


def test_a_replacement_that_expired_does_not_hide_the_original(client: FlaskClient, services: Services) -> None:
    original = store(client, "Standups happen at 9:30")
    replacement = store(client, "Standups moved to 10:00 for December", t_invalid=iso(utcnow() - timedelta(days=1)))
    client.post("/associate", json={"memory1_id": original, "memory2_id": replacement, "type": "INVALIDATED_BY"})
    services.embedding_worker.drain()
    assert ids_of(recall(client, query="When are standups?", limit=5)) == [original]


def test_duplicates_do_not_eat_into_the_limit(client: FlaskClient, services: Services) -> None:
    # Distinct tags, so the store-side deduplication keeps all three copies.
    copies = [store(client, "Backups run nightly at 02:00", tags=[f"host-{n}"]) for n in range(3)]
    other = store(client, "Backups are kept for thirty days")
    services.embedding_worker.drain()
    body = recall(client, query="backups", limit=2)
    assert body["count"] == 2 and other in ids_of(body)
    assert len(set(ids_of(body)) & set(copies)) == 1 and body["dedup_removed"] == 2


def test_expired_and_future_memories_are_hidden(client: FlaskClient, services: Services) -> None:
    now = utcnow()
    expired = store(client, "The wifi password is hunter2", t_invalid=iso(now - timedelta(days=1)))
    future = store(client, "The wifi password will be swordfish", t_valid=iso(now + timedelta(days=3)))
    valid = store(client, "The guest wifi password is on the fridge")
    services.embedding_worker.drain()
    assert ids_of(recall(client, query="wifi password", limit=10)) == [valid]
    assert set(ids_of(recall(client, query="wifi password", limit=10, state_mode="history"))) == {
        expired,
        future,
        valid,
    }


def test_expand_relations_brings_linked_memories_within_the_limit(client: FlaskClient, services: Services) -> None:
    seed = store(client, "Kafka consumer lag alerts fire every night")
    linked = store(client, "Root cause: the batch job saturates the disks at 2am", importance=0.9)
    for n in range(12):
        store(client, f"Kafka topic {n} is owned by the payments team and consumed by reporting")
    client.post("/associate", json={"memory1_id": seed, "memory2_id": linked, "type": "LEADS_TO", "strength": 0.9})
    services.embedding_worker.drain()
    plain = recall(client, query="Kafka consumer lag alerts", limit=3)
    assert ids_of(plain)[0] == seed and linked not in ids_of(plain)
    expanded = recall(client, query="Kafka consumer lag alerts", limit=3, expand_relations="true")
    assert ids_of(expanded)[0] == seed
    item = next(r for r in expanded["results"] if r["id"] == linked)
    assert item["match_type"] == "relation" and item["related_to"] == seed and item["relation_type"] == "LEADS_TO"
    assert item["score_components"]["relation"] == pytest.approx(
        min(1.0, 0.9 + 0.25 * expanded["results"][0]["score"]), abs=1e-3
    )
    assert expanded["count"] == 3 and expanded["expansion"]["expanded_count"] >= 1


def test_sorting_and_limits(client: FlaskClient, services: Services) -> None:
    now = utcnow()
    ids = [
        store(client, f"weekly report {n}", timestamp=iso(now - timedelta(days=n)), importance=n / 10) for n in range(5)
    ]
    services.embedding_worker.drain()
    assert ids_of(recall(client, query="weekly report", sort="time_desc", limit=5)) == ids
    assert ids_of(recall(client, query="weekly report", order_by="time_asc", limit=5)) == ids[::-1]
    trending = recall(client, limit=5)  # no query: most important first
    assert ids_of(trending) == ids[::-1]
    assert recall(client, query="weekly report", limit=1000)["count"] == 5
    assert recall(client, query="weekly report", limit=0)["count"] == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "ten"}, "limit"),
        ({"tag_mode": "some"}, "tag_mode"),
        ({"tag_match": "fuzzy"}, "tag_match"),
        ({"sort": "random"}, "sort"),
        ({"state_mode": "future"}, "state_mode"),
        ({"start": "last tuesday"}, "start"),
        ({"expand_relations": "perhaps"}, "expand_relations"),
        ({"embedding": "0.1,0.2"}, "embedding"),
        ({"min_score": "high"}, "min_score"),
        ({"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "start"),
    ],
)
def test_bad_recall_parameters_are_400(client: FlaskClient, params: dict[str, str], field: str) -> None:
    response = client.get("/recall", query_string={"query": "x", **params})
    assert response.status_code == 400 and response.json["field"] == field


def test_archived_memories_are_not_recalled(client: FlaskClient, services: Services) -> None:
    kept = store(client, "Zeppelin archive test kept")
    gone = store(client, "Zeppelin archive test archived")
    services.embedding_worker.drain()
    memory = services.graph.memories.get(gone)
    assert memory is not None
    services.graph.memories.update(memory.with_changes(archived=True), ["archived"])
    assert ids_of(recall(client, query="Zeppelin archive test", state_mode="history")) == [kept]


def test_recall_answers_from_the_graph_when_qdrant_is_unreachable(client: FlaskClient, services: Services) -> None:
    memory_id = store(client, "The staging cluster lives in Frankfurt")
    services.embedding_worker.drain()
    unreachable = QdrantServerStore(":memory:", collection="memories", dimension=384)
    unreachable._client = QdrantClient(url=f"http://127.0.0.1:{free_port()}", timeout=1, check_compatibility=False)
    services.recall_sources = replace(services.recall_sources, vectors=unreachable)
    body = recall(client, query="staging cluster Frankfurt")
    assert body["degraded"] is True and "vector store" in body["degraded_reasons"][0]
    assert ids_of(body) == [memory_id]
    assert body["results"][0]["source"] == "graph"
    wordless = recall(client, query="what is it?")  # no usable words either: the listing still answers
    assert wordless["degraded"] is True and ids_of(wordless) == [memory_id]


def test_several_queries_are_searched_and_merged(client: FlaskClient, facts: dict[str, str]) -> None:
    body = recall(client, queries="Who goes jogging?,What does the cat break?", limit=2)
    assert set(ids_of(body)) == {facts["run"], facts["cat"]}
    assert body["queries"] == ["Who goes jogging?", "What does the cat break?"]
    repeated = client.get("/recall", query_string=[("queries", "jogging"), ("queries", "cat")]).json
    assert repeated["count"] >= 2


@pytest.mark.parametrize(
    ("total", "matches", "expected"),
    [
        (100, 0, 0.0),  # a word no memory holds tells nothing apart
        (100, 1, pytest.approx(4.2097, abs=1e-4)),  # log(1 + 99.5 / 1.5)
        (100, 100, pytest.approx(0.0050, abs=1e-4)),  # in every memory: almost nothing
        (0, 3, pytest.approx(0.1335, abs=1e-4)),  # counted a moment apart: never negative
    ],
)
def test_idf(total: int, matches: int, expected: float) -> None:
    assert idf(total, matches) == expected


@pytest.mark.parametrize(
    ("words", "content", "weights", "expected"),
    [
        (["adoption", "caroline"], "caroline called the adoption agency", {"adoption": 3.0, "caroline": 1.0}, 1.0),
        (["adoption", "caroline"], "caroline went hiking", {"adoption": 3.0, "caroline": 1.0}, 0.25),
        (["deploy"], "we deployed on tuesday", None, 1.0),  # a prefix of four letters or more matches
        (["dep"], "we deployed on tuesday", None, 0.0),  # shorter ones must match whole
        (["zyx", "hiking"], "caroline went hiking", {"zyx": 0.0, "hiking": 0.0}, 0.5),  # no weights: words count alike
        ([], "anything", None, 0.0),
    ],
)
def test_keyword_score(words: list[str], content: str, weights: dict[str, float] | None, expected: float) -> None:
    assert keyword_score(words, WordSet(content.split()), weights) == pytest.approx(expected)


def test_query_match_is_the_vector_and_keyword_parts_only() -> None:
    parts = Components(vector=0.6, keyword=0.2, tag=1.0, importance=1.0, context=1.0)
    assert parts.query_match(Weights()) == pytest.approx((0.35 * 0.6 + 0.35 * 0.2) / 0.7)
    assert parts.query_match(Weights(vector=0.0, keyword=0.0)) == 0.0


@pytest.mark.parametrize(
    ("alias", "field", "value", "expected"),
    [
        ("q", "query", "cats", "cats"),
        ("order_by", "sort", "time_asc", SortMode.TIME_ASC),
        ("time", "time_query", "today", "today"),
        ("expand", "expand_relations", "true", True),
        ("expand_associations", "expand_relations", "1", True),
        ("relation_expansion_limit", "expansion_limit", "7", 7),
    ],
)
def test_automems_parameter_names_are_accepted(alias: str, field: str, value: str, expected: object) -> None:
    params = RecallParams.from_args({alias: value}, max_limit=100, dimension=384)
    assert getattr(params, field) == expected


def test_the_canonical_name_wins_over_automems() -> None:
    params = RecallParams.from_args({"q": "alias", "query": "canonical"}, max_limit=100, dimension=384)
    assert params.query == "canonical"
