"""EntityQueries against a real FalkorDB: references replaced per memory, counts from edges, lookups
by slug, alias and id, merges, the tag scan behind the audit, and memories that share an entity
(recall's entity expansion). Also the pure rules: tag verdicts and merge candidates."""

from __future__ import annotations

import uuid
from typing import Any, get_args

import pytest

from loci.enrichment.entities import Entity
from loci.enrichment.entity_merge import AUTO_MERGE_CONFIDENCE, merge_candidates
from loci.enrichment.entity_tags import REASONS, TAG_CATEGORIES, audit, judge, mentions
from loci.model import Memory
from loci.schemas import EntityCategory, EntityTagReason
from loci.stores.graph import EntityMention, EntityRecord, GraphStore

STAMP = "2026-01-10T12:00:00+00:00"


def make_memory(content: str, n: int = 0, **fields: Any) -> Memory:
    stamp = f"2026-01-{10 + n:02d}T12:00:00+00:00"
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "content": content,
        "type": "Context",
        "confidence": 0.6,
        "importance": 0.5,
        "timestamp": stamp,
        "updated_at": STAMP,
        "last_accessed": stamp,
        "t_valid": stamp,
    }
    values.update(fields)
    return Memory(**values)


def person(slug: str, name: str | None = None) -> EntityMention:
    return EntityMention("people", slug, name or slug.replace("-", " ").title())


def tool(slug: str) -> EntityMention:
    return EntityMention("tools", slug, slug.title())


def stored(graph: GraphStore, count: int) -> list[str]:
    memories = [make_memory(f"memory {n}", n) for n in range(count)]
    graph.memories.create(memories)
    return [m.id for m in memories]


def referenced(graph: GraphStore) -> dict[str, set[str]]:
    rows = graph.query("MATCH (e:Entity)-[:REFERENCED_IN]->(m:Memory) RETURN e.id, m.id")
    found: dict[str, set[str]] = {}
    for entity_id, memory_id in rows:
        found.setdefault(entity_id, set()).add(memory_id)
    return found


def test_references_are_replaced_per_memory_and_counted_from_edges(graph: GraphStore) -> None:
    a, b, c = stored(graph, 3)
    written = graph.entities.replace_references(
        [(a, STAMP, [person("ada-lovelace"), tool("redis")]), (b, STAMP, [person("ada-lovelace")]), (c, STAMP, [])]
    )
    assert written == 3
    assert referenced(graph) == {"entity:people:ada-lovelace": {a, b}, "entity:tools:redis": {a}}
    listing = graph.entities.listing(None, 10, 0)
    assert [(e.id, e.reference_count) for e in listing] == [
        ("entity:people:ada-lovelace", 2),
        ("entity:tools:redis", 1),
    ]
    ada = listing[0]
    assert (ada.slug, ada.category, ada.name, ada.aliases) == ("ada-lovelace", "people", "Ada Lovelace", ())
    assert ada.created_at and ada.last_referenced_at and ada.merged_into is None

    # a's content changed: its stale reference to redis goes, ada stays
    graph.entities.replace_references([(a, STAMP, [person("ada-lovelace")])])
    assert referenced(graph) == {"entity:people:ada-lovelace": {a, b}}
    assert [e.id for e in graph.entities.listing(None, 10, 0)] == ["entity:people:ada-lovelace"]  # redis: no refs
    assert [e.id for e in graph.entities.listing("tools", 10, 0)] == []

    graph.memories.delete(b)  # DETACH DELETE takes the reference with it
    assert [(e.id, e.reference_count) for e in graph.entities.listing(None, 10, 0)] == [
        ("entity:people:ada-lovelace", 1)
    ]


def test_a_memory_edited_since_it_was_read_is_left_alone(graph: GraphStore) -> None:
    (a,) = stored(graph, 1)
    assert graph.entities.replace_references([(a, "2020-01-01T00:00:00+00:00", [tool("redis")])]) == 0
    assert referenced(graph) == {}


def test_listing_pages_by_reference_count(graph: GraphStore) -> None:
    ids = stored(graph, 4)
    graph.entities.replace_references(
        [(memory_id, STAMP, [tool(f"tool-{k}") for k in range(n + 1)]) for n, memory_id in enumerate(ids)]
    )
    first = graph.entities.listing(None, 2, 0)
    second = graph.entities.listing(None, 2, 2)
    assert [(e.id, e.reference_count) for e in first + second] == [
        ("entity:tools:tool-0", 4),
        ("entity:tools:tool-1", 3),
        ("entity:tools:tool-2", 2),
        ("entity:tools:tool-3", 1),
    ]


def test_merge_moves_edges_records_the_alias_and_later_mentions_follow(graph: GraphStore) -> None:
    a, b, c, d = stored(graph, 4)
    graph.entities.replace_references(
        [(a, STAMP, [person("alice")]), (b, STAMP, [person("alice-smith")]), (c, STAMP, [person("alice-smith")])]
    )
    alias = graph.entities.find(["alice"])
    canonical = graph.entities.find(["alice-smith"])
    assert alias and canonical
    result = graph.entities.merge(alias, canonical)
    assert (result.canonical, result.alias, result.alias_slug, result.edges_moved) == (
        "entity:people:alice-smith",
        "entity:people:alice",
        "alice",
        1,
    )
    assert referenced(graph) == {"entity:people:alice-smith": {a, b, c}}
    merged = graph.entities.find(["alice"])  # the alias resolves to the canonical
    assert merged and merged.id == "entity:people:alice-smith" and merged.reference_count == 3
    assert set(merged.aliases) == {"Alice", "alice"}
    assert [e.id for e in graph.entities.listing(None, 10, 0)] == ["entity:people:alice-smith"]
    graph.entities.replace_references([(d, STAMP, [person("alice")])])  # a new mention of the merged name
    assert referenced(graph) == {"entity:people:alice-smith": {a, b, c, d}}

    # merging the canonical on: what was merged into it now points further
    graph.entities.replace_references([(d, STAMP, [person("alice"), person("a-smith")])])
    target = graph.entities.find(["a-smith"])
    assert target
    graph.entities.merge(graph.entities.find(["alice-smith"]) or canonical, target)
    rows = graph.query("MATCH (e:Entity) WHERE e.merged_into IS NOT NULL RETURN e.id, e.merged_into ORDER BY e.id")
    assert rows == [
        ["entity:people:alice", "entity:people:a-smith"],
        ["entity:people:alice-smith", "entity:people:a-smith"],
    ]


def test_find_by_id_slug_alias_and_preferred_category(graph: GraphStore) -> None:
    a, b = stored(graph, 2)
    graph.entities.replace_references(
        [
            (a, STAMP, [EntityMention("tools", "atlas", "Atlas")]),
            (b, STAMP, [EntityMention("projects", "atlas", "Atlas")]),
        ]
    )
    graph.entities.replace_references([(a, STAMP, [EntityMention("tools", "atlas", "Atlas")])])
    found = graph.entities.find(["entity:projects:atlas"])
    assert found and found.id == "entity:projects:atlas"
    preferred = graph.entities.find(["atlas"], prefer_category="projects")
    assert preferred and preferred.category == "projects"
    assert graph.entities.find(["nothing-like-it"]) is None


def test_shared_entity_memories_follow_merges_and_leave_out_the_seeds(graph: GraphStore) -> None:
    seed1, seed2, m1, m2, m3, m4, other = stored(graph, 7)
    graph.entities.replace_references(
        [
            (seed1, STAMP, [person("bob"), tool("redis")]),
            (seed2, STAMP, [tool("redis")]),
            (m1, STAMP, [tool("redis")]),
            (m2, STAMP, [tool("redis")]),
            (m3, STAMP, [person("robert")]),
            (m4, STAMP, [person("bob")]),
            (other, STAMP, [tool("kafka")]),
        ]
    )
    # seeds: redis is mentioned by both, so it comes first; newest memories first within an entity
    assert graph.entities.shared_entity_memories([seed1, seed2], 5, 5) == [
        (seed1, "entity:tools:redis", m2),
        (seed1, "entity:tools:redis", m1),
        (seed1, "entity:people:bob", m4),
    ]
    assert graph.entities.shared_entity_memories([seed2, seed1], 1, 1) == [(seed2, "entity:tools:redis", m2)]

    bob, robert = graph.entities.find(["bob"]), graph.entities.find(["robert"])
    assert bob and robert
    graph.entities.merge(bob, robert)  # bob's edges (seed1, m4) move to robert
    assert graph.entities.shared_entity_memories([seed1], 5, 5) == [
        (seed1, "entity:people:robert", m4),
        (seed1, "entity:people:robert", m3),
        (seed1, "entity:tools:redis", m2),
        (seed1, "entity:tools:redis", m1),
        (seed1, "entity:tools:redis", seed2),  # not a seed this time
    ]
    assert graph.entities.shared_entity_memories([], 5, 5) == []
    assert graph.entities.shared_entity_memories([other], 5, 5) == []


def test_shared_entity_memories_skip_an_entity_merged_before_its_edges_moved(graph: GraphStore) -> None:
    """A store restored from AutoMem may hold edges on a merged entity: they count as the canonical's."""
    seed, m1 = stored(graph, 2)
    graph.entities.replace_references([(seed, STAMP, [person("bob")]), (m1, STAMP, [person("robert")])])
    graph.query("MATCH (e:Entity {id: 'entity:people:bob'}) SET e.merged_into = 'entity:people:robert'")
    assert graph.entities.shared_entity_memories([seed], 5, 5) == [(seed, "entity:people:robert", m1)]


def test_the_tag_scan_reads_every_memory_with_entity_tags_in_pages(graph: GraphStore) -> None:
    memories = [make_memory(f"m{n}", tags=["x", f"entity:tools:t{n}"] if n % 2 else ["x"]) for n in range(7)]
    graph.memories.create(memories)
    rows = list(graph.entities.iter_entity_tags(page_size=2))
    assert sorted(r[0] for r in rows) == sorted(m.id for n, m in enumerate(memories) if n % 2)
    assert all(len(tags) == 1 and tags[0].startswith("entity:tools:") for _, tags, _ in rows)


def test_tag_verdicts() -> None:
    names = {"people": ["Priya Raman"]}
    verdicts = {
        tag: (v.reason, v.name) if (v := judge(tag, names)) else None
        for tag in (
            "entity:people:priya-raman",
            "entity:opportunities:series-a",
            "entity:people:completed",
            "entity:tools:Redis_DB",
            "entity:gadgets:phone",
            "entity:people",
            "entity:tools:config-yaml",
            "project:loci",
        )
    }
    assert verdicts == {
        "entity:people:priya-raman": (None, "Priya Raman"),
        "entity:opportunities:series-a": (None, "Series A"),
        "entity:people:completed": ("quality", "Completed"),
        "entity:tools:Redis_DB": ("not_a_slug", "Redis Db"),
        "entity:gadgets:phone": ("unknown_category", "Phone"),
        "entity:people": ("malformed", ""),
        "entity:tools:config-yaml": (None, "Config Yaml"),
        "project:loci": None,
    }
    assert set(get_args(EntityCategory)) == set(TAG_CATEGORIES)  # the request model offers the same categories
    assert set(get_args(EntityTagReason)) == set(REASONS)


def test_mentions_add_the_memorys_valid_entity_tags_to_what_was_found() -> None:
    found = [Entity("Priya Raman", "people")]
    tags = ["work", "entity:people:priya-raman", "entity:projects:atlas", "entity:people:done"]
    got = mentions(found, tags, {"entities": {"projects": ["Atlas"]}})
    assert got == [EntityMention("people", "priya-raman", "Priya Raman"), EntityMention("projects", "atlas", "Atlas")]


def test_audit_counts_and_pages() -> None:
    rows = [
        ("m1", ["entity:people:ada-lovelace", "entity:people:completed"], None),
        ("m2", ["entity:people:ada-lovelace", "entity:tools:redis", "entity:gadgets:x"], '{"entities": {}}'),
        ("m3", ["entity:people:done"], "not json"),
    ]
    report = audit(rows)
    assert [(e["id"], e["references"]) for e in report.accepted] == [
        ("entity:people:ada-lovelace", 2),
        ("entity:tools:redis", 1),
    ]
    assert [(r["memory_id"], r["reason"]) for r in report.rejected] == [
        ("m1", "quality"),
        ("m2", "unknown_category"),
        ("m3", "quality"),
    ]
    assert report.counts_by_reason == {"quality": 2, "unknown_category": 1}
    assert report.counts_by_category["people"] == {"accepted": 1, "rejected": 2}
    page = audit(rows, reason="quality", limit=1, offset=1)
    assert page.accepted == [] and [r["memory_id"] for r in page.rejected] == ["m3"]
    assert page.counts["rejected_entities"] == 2 and page.counts["rejected_total_unfiltered"] == 3
    tools = audit(rows, category="tools")
    assert [e["id"] for e in tools.accepted] == ["entity:tools:redis"] and tools.rejected == []


def record(category: str, slug: str, refs: int = 1, aliases: tuple[str, ...] = ()) -> EntityRecord:
    return EntityRecord(f"entity:{category}:{slug}", slug, category, slug, aliases, refs, None, None, None)


@pytest.mark.parametrize(
    ("a", "b", "reason", "auto"),
    [
        (record("tools", "node-js"), record("tools", "nodejs"), "same_name", True),
        (record("people", "bob"), record("people", "robert", aliases=("Bob",)), "alias", True),
        (record("people", "alice"), record("people", "alice-smith"), "token_subset", False),
        (record("tools", "postgres"), record("tools", "postgresql"), "prefix", False),
        (record("tools", "postgressql"), record("tools", "postgresql"), "edit_distance", False),
    ],
)
def test_merge_candidates_for_near_duplicates(a: EntityRecord, b: EntityRecord, reason: str, auto: bool) -> None:
    (candidate,) = merge_candidates([a, b])
    assert candidate.reason.startswith(reason)
    assert candidate.auto_merge is auto and (candidate.confidence >= AUTO_MERGE_CONFIDENCE) is auto


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (record("people", "alice-smith"), record("people", "alice-jones")),
        (record("tools", "java"), record("tools", "javascript")),
        (record("tools", "gpt-4"), record("tools", "gpt-5")),
        (record("tools", "redis"), record("tools", "regis")),
        (record("tools", "atlas"), record("projects", "atlas")),  # another category
        (record("tools", "kafka"), record("tools", "postgresql")),
        (record("people", "priya-raman"), record("people", "priya-ramanathan")),
        (record("people", "jan"), record("people", "janet")),
    ],
)
def test_no_merge_candidates_for_distinct_names(a: EntityRecord, b: EntityRecord) -> None:
    assert merge_candidates([a, b]) == []


def test_the_canonical_is_the_more_referenced() -> None:
    (candidate,) = merge_candidates([record("tools", "nodejs", refs=9), record("tools", "node-js", refs=2)])
    assert (candidate.canonical, candidate.alias) == ("entity:tools:nodejs", "entity:tools:node-js")
