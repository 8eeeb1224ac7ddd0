"""Consolidation tasks on the real graph and vector store, the run history, and the scheduler."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from flask import Flask

from consolidation import relevance
from loci.recall.keywords import tokens
from loci.services import Services
from loci.timeutil import iso, parse_timestamp, utcnow
from tests.helpers import store

DIM = 384


def unit(*weights: tuple[int, float]) -> list[float]:
    """A unit vector with the given (axis, weight) components."""
    vector = np.zeros(DIM)
    for axis, weight in weights:
        vector[axis] = weight
    return (vector / np.linalg.norm(vector)).tolist()


def edges(svc: Services, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    rows = svc.graph.query(f"MATCH (a:Memory)-[r:{kind}]->(b:Memory) RETURN a.id, b.id, properties(r)")
    return [(a, b, dict(props)) for a, b, props in rows]


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"importance": 0.5, "confidence": 0.5, "age": 0, "since_access": 0, "edges": 0}, 0.51),
        # old and untouched: the importance floor (0.5 * 0.3) holds it up
        ({"importance": 0.5, "confidence": 0.5, "age": 100, "since_access": 100, "edges": 0}, 0.15),
        # well connected and important: capped at 1
        ({"importance": 0.9, "confidence": 1.0, "age": 10, "since_access": 0.5, "edges": 5}, 1.0),
        # 0.740818 * 0.481959 * 1.329584 * 0.7 * 0.88
        ({"importance": 0.2, "confidence": 0.6, "age": 30, "since_access": 10, "edges": 2}, 0.2924),
    ],
)
def test_relevance_formula(inputs: dict[str, float], expected: float) -> None:
    assert relevance(**inputs, rate=0.01, floor=0.3) == pytest.approx(expected, abs=1e-4)


def test_decay_writes_scores_to_graph_and_payload_and_dry_runs_write_nothing(app: Flask, services: Services) -> None:
    fresh = store(app, "fresh note", importance=0.5, confidence=0.5)
    old = store(app, "old note", importance=0.5, confidence=0.5, timestamp=iso(utcnow() - timedelta(days=100)))
    services.embedding_worker.drain()
    dry = services.consolidator.run("decay", dry_run=True)
    assert dry["steps"]["decay"]["processed"] == 2
    assert services.graph.memories.get(fresh).relevance_score is None  # type: ignore[union-attr]
    assert services.graph.maintenance.runs(10) == []  # dry runs are not recorded either

    result = services.consolidator.run("decay", dry_run=False)
    assert result["success"] and result["steps"]["decay"]["buckets"]["medium"] == 1
    assert services.graph.memories.get(fresh).relevance_score == pytest.approx(0.51, abs=0.01)  # type: ignore[union-attr]
    assert services.graph.memories.get(old).relevance_score == pytest.approx(0.15, abs=0.01)  # type: ignore[union-attr]
    payload = services.vectors.retrieve([fresh])[0].payload
    assert payload["relevance_score"] == pytest.approx(0.51, abs=0.01) and payload["content"] == "fresh note"
    (run,) = services.graph.maintenance.runs(10)
    assert run["task"] == "decay" and run["success"] and run["result"]["processed"] == 2


def test_creative_links_follow_the_rules(app: Flask, services: Services) -> None:
    keep = store(app, "We decided to use Postgres for billing", embedding=unit((0, 1.0)), type="Decision")
    reverse = store(app, "We no longer use Postgres for billing", embedding=unit((0, 1.0), (1, 0.5)), type="Decision")
    insight = store(app, "Retries hide the real error", embedding=unit((2, 1.0)), type="Insight")
    pattern = store(app, "Flaky tests usually follow retries", embedding=unit((2, 1.0), (3, 0.9)), type="Pattern")
    store(app, "Unrelated note about lunch", embedding=unit((9, 1.0)), type="Context")
    result = services.consolidator.run("creative", dry_run=False)["steps"]["creative"]
    assert result["sampled"] == 5 and result["contradictions"] == 1
    assert {frozenset((a, b)) for a, b, _ in edges(services, "CONTRADICTS")} == {frozenset((keep, reverse))}
    found = {frozenset((a, b)): props for a, b, props in edges(services, "DISCOVERED")}
    assert found[frozenset((insight, pattern))]["kind"] == "explains"
    assert found[frozenset((insight, pattern))]["origin"] == "consolidation"
    # linked pairs are not linked again
    again = services.consolidator.run("creative", dry_run=False)["steps"]["creative"]
    assert again["contradictions"] == 0 and again["discovered"] == 0


def test_cluster_summarises_close_groups_through_the_index(app: Flask, services: Services) -> None:
    group = [
        store(app, f"Kafka consumer lag alert number {n}", embedding=unit((0, 1.0), (n + 1, 0.05))) for n in range(4)
    ]
    store(app, "A lone thought about gardening", embedding=unit((100, 1.0)))
    store(app, "Another about sailing", embedding=unit((200, 1.0)))
    dry = services.consolidator.run("cluster", dry_run=True)["steps"]["cluster"]
    assert dry["clusters"] == 1 and services.graph.query("MATCH (c:MetaMemory) RETURN count(c)")[0][0] == 0
    result = services.consolidator.run("cluster", dry_run=False)["steps"]["cluster"]
    assert result == {**result, "scanned": 6, "clusters": 1, "sizes": [4]}
    rows = services.graph.query("MATCH (c:MetaMemory)-[:SUMMARIZES]->(m:Memory) RETURN c.content, c.type, m.id")
    assert {row[2] for row in rows} == set(group) and rows[0][1] == "MetaPattern"
    assert {"kafka", "consumer"} <= set(tokens(rows[0][0]))
    services.consolidator.run("cluster", dry_run=False)  # a rerun replaces, never duplicates
    assert services.graph.query("MATCH (c:MetaMemory) RETURN count(c)")[0][0] == 1
    recalled = app.test_client().get("/recall", query_string={"query": "Kafka consumer lag"}).json
    assert all(r["memory"]["type"] != "MetaPattern" for r in recalled["results"])


@pytest.fixture
def forgetful(make_app: Callable[..., Flask]) -> Flask:
    return make_app(consolidation_archive_threshold=0.3, consolidation_delete_threshold=0.1)


def test_forget_archives_deletes_and_protects(forgetful: Flask) -> None:
    svc: Services = forgetful.extensions["loci"]
    long_ago = iso(utcnow() - timedelta(days=730))
    doomed = store(forgetful, "stale trivia", importance=0.2, timestamp=long_ago, last_accessed=long_ago)
    faded = store(forgetful, "stale but once useful", importance=0.69, timestamp=long_ago, last_accessed=long_ago)
    decision = store(forgetful, "an old decision", importance=0.2, type="Decision", timestamp=long_ago)
    important = store(forgetful, "an old important fact", importance=0.8, timestamp=long_ago)
    recent = store(forgetful, "The parking garage closes at midnight", importance=0.1)
    svc.embedding_worker.drain()
    plan = svc.consolidator.run("forget", dry_run=True)["steps"]["forget"]
    assert (plan["deleted"], plan["archived"], plan["protected"]) == (1, 1, 3), plan
    assert svc.graph.memories.count() == 5  # the dry runs changed nothing
    svc.consolidator.run("forget", dry_run=False)
    assert svc.graph.memories.get(doomed) is None and svc.vectors.retrieve([doomed]) == []
    archived = svc.graph.memories.get(faded)
    assert archived is not None and archived.archived and archived.archived_at
    assert svc.vectors.retrieve([faded])[0].payload["archived"] is True
    assert all(not svc.graph.memories.get(i).archived for i in (decision, important, recent))  # type: ignore[union-attr]


def test_forget_is_off_by_default(app: Flask, services: Services) -> None:
    assert "skipped" in services.consolidator.run("forget", dry_run=False)["steps"]["forget"]


def test_history_is_kept_to_the_limit_per_task(make_app: Callable[..., Flask]) -> None:
    svc: Services = make_app(consolidation_history_limit=2).extensions["loci"]
    for task in ("decay", "cluster", "decay", "decay", "forget"):
        svc.consolidator.run(task, dry_run=False)
    svc.consolidator.run("creative", dry_run=True)
    runs = svc.graph.maintenance.runs(10)
    assert sorted(r["task"] for r in runs) == [
        "cluster",
        "decay",
        "decay",
        "forget",
    ]  # frequent tasks never push out rare ones
    history = svc.consolidator.history(10)
    assert history[0]["task"] == "creative" and history[0]["dry_run"] is True  # dry runs: kept in the process only
    assert svc.graph.maintenance.last_run("cluster") is not None


def test_the_scheduler_registers_the_enabled_jobs_and_reports_next_runs(make_app: Callable[..., Flask]) -> None:
    """The one test of the live scheduler: it holds a job per enabled task, and the job it holds
    runs that task (called here directly; no test waits for a job to fire)."""
    app = make_app(
        consolidation_decay_interval_seconds=3600,
        consolidation_startup_delay_seconds=3600,
        sync_check_interval_seconds=3600,
        consolidation_creative_interval_seconds=0,
        consolidation_cluster_interval_seconds=0,
    )
    svc: Services = app.extensions["loci"]
    store(app, "scheduled decay target")
    svc.scheduler.start()
    runs = svc.scheduler.next_runs()
    assert runs["creative"] == runs["cluster"] == runs["forget"] == "Disabled"
    assert parse_timestamp(runs["sync"]) > utcnow() + timedelta(minutes=59)
    assert parse_timestamp(runs["decay"]) > utcnow() + timedelta(minutes=59)
    assert svc.graph.maintenance.last_run("decay") is None
    app.apscheduler.run_job("decay")  # type: ignore[attr-defined]  # flask-apscheduler's handle on the app
    assert svc.graph.maintenance.last_run("decay") is not None
    status = app.test_client().get("/consolidate/status").json
    assert status["scheduler_running"] is True and "decay" in {run["task"] for run in status["history"]}


def test_a_job_first_runs_one_interval_after_its_last_run(app: Flask, services: Services) -> None:
    now = utcnow()
    last = iso(now - timedelta(hours=2))
    assert services.scheduler.first_run(last, 86400, now) == parse_timestamp(last) + timedelta(seconds=86400)
    overdue = iso(now - timedelta(days=3))
    assert services.scheduler.first_run(overdue, 86400, now) == now + timedelta(seconds=300)
    assert services.scheduler.first_run(None, 60, now) == now + timedelta(seconds=60)
