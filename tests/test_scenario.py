"""A few weeks of an assistant's memories, end to end through enrichment and scheduled consolidation.

About a hundred memories about people, tools and projects, with timestamps spread over
six weeks and stored out of order, go through the real workers (spaCy, MiniLM, FalkorDB,
embedded Qdrant); then the scheduler's decay and clustering jobs run (called directly).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask

from loci.model import Memory, StageStatus
from loci.services import Services
from loci.timeutil import iso, parse_timestamp, utcnow

pytestmark = pytest.mark.slow

PEOPLE = ["Priya Raman", "Omar Haddad", "Lena Vogel", "Tomas Berg", "Ines Duarte"]
TOOLS = ["PostgreSQL", "Kafka", "Terraform", "Grafana"]
PROJECTS = ["Atlas", "Beacon", "Comet"]
DUPLICATE = "The nightly backup of the billing database runs at 2am and takes forty minutes."


def diary(rng: random.Random) -> list[tuple[str, dict[str, object]]]:
    start = utcnow() - timedelta(days=42)
    entries: list[tuple[str, dict[str, object]]] = []
    for n in range(96):
        person, tool, project = rng.choice(PEOPLE), rng.choice(TOOLS), rng.choice(PROJECTS)
        text = rng.choice(
            [
                f"Met with {person} to review the {project} roadmap.",
                f"We decided to use {tool} for the {project} project.",
                f"The team switched to {tool} after {person} benchmarked it.",
                f'Talked to {person} about hiring for the project called "{project}".',
            ]
        )
        entries.append(
            (text, {"timestamp": iso(start + timedelta(hours=10 * n)), "tags": [f"project:{project.lower()}"]})
        )
    for n in range(4):  # near-duplicates, a day apart
        entries.append(
            (
                DUPLICATE if n % 2 == 0 else DUPLICATE.replace("runs", "starts"),
                {"timestamp": iso(start + timedelta(days=n))},
            )
        )
    rng.shuffle(entries)  # arrival order is not memory order
    return entries


def test_a_few_weeks_of_memories(make_app: Callable[..., Flask]) -> None:
    app = make_app(consolidation_cluster_similarity_threshold=0.9)
    svc: Services = app.extensions["loci"]
    client = app.test_client()
    for text, fields in diary(random.Random(11)):
        assert client.post("/memory", json={"content": text, **fields}).status_code == 201
    for _ in range(4):
        svc.enrichment_worker.drain(timeout=300)
        svc.embedding_worker.drain(timeout=300)
    memories = [svc.graph.memories.get(i) for i in svc.graph.memories.iter_ids()]
    assert len(memories) == 100
    assert all(
        m and m.enrichment_status is StageStatus.COMPLETED and m.embedding_status is StageStatus.COMPLETED
        for m in memories
    )

    # entities: every person and tool mentioned is tagged on the memories that mention it
    tags = Counter(tag for m in memories if m for tag in m.tags)
    for person in PEOPLE:
        slug = person.lower().replace(" ", "-")
        mentioned = sum(1 for m in memories if m and person in m.content)
        assert tags[f"entity:people:{slug}"] >= 0.9 * mentioned > 0, person
    for tool in ("Kafka", "Terraform"):
        assert tags[f"entity:tools:{tool.lower()}"] > 0, tool
    assert tags["entity:projects:atlas"] > 0

    # PRECEDED_BY: always towards earlier memory time, within 7 days, at most 5 per memory
    by_id = {m.id: m for m in memories if m}
    links = svc.graph.query("MATCH (a:Memory)-[:PRECEDED_BY]->(b:Memory) RETURN a.id, b.id")
    assert len(links) > 150
    for a, b in links:
        gap = parse_timestamp(by_id[a].timestamp) - parse_timestamp(by_id[b].timestamp)
        assert timedelta(0) <= gap <= timedelta(days=7)
        assert gap > timedelta(0) or by_id[a].stored_at > by_id[b].stored_at  # same time: stored order
    assert max(Counter(a for a, _ in links).values()) == 5

    # SIMILAR_TO between the near-duplicates, both ways
    copies = {m.id for m in memories if m and "nightly backup" in m.content}
    similar = {(a, b) for a, b in svc.graph.query("MATCH (a:Memory)-[:SIMILAR_TO]->(b:Memory) RETURN a.id, b.id")}
    assert {(a, b) for a in copies for b in copies if a != b} <= similar

    # patterns: recurring types became Pattern nodes with exemplars
    patterns = svc.graph.enrichment.patterns()
    assert "Decision" in patterns and patterns["Decision"]["observations"] > 5

    # consolidation, as the scheduler runs it: decay scores everything, clustering summarises the duplicates
    for task in ("decay", "cluster"):
        svc.consolidator.run_task(task, dry_run=False, scheduled=True)  # what the scheduler calls
    assert svc.graph.maintenance.last_run("decay") and svc.graph.maintenance.last_run("cluster")
    decayed = [svc.graph.memories.get(i) for i in by_id]
    scores = [m.relevance_score for m in decayed if isinstance(m, Memory)]
    assert len(scores) == 100 and all(0 < s <= 1 for s in scores)
    recent = max(decayed, key=lambda m: m.timestamp if m else "")
    oldest = min(decayed, key=lambda m: m.timestamp if m else "")
    assert recent and oldest and recent.relevance_score > oldest.relevance_score  # type: ignore[operator]
    members = {row[0] for row in svc.graph.query("MATCH (:MetaMemory)-[:SUMMARIZES]->(m:Memory) RETURN m.id")}
    assert copies <= members
