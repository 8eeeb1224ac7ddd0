"""GraphStore against a real FalkorDB server: writes, paging, search, filters, relationships."""

from __future__ import annotations

import itertools
import uuid

import pytest

from loci.model import Memory, RelationType, StageStatus, content_hash, epoch
from loci.stores.filters import MemoryFilter, TagMatch, TagMode
from loci.stores.graph import GraphStore
from tests.helpers import make_memory


def test_schema_is_idempotent(graph: GraphStore) -> None:
    graph.ensure_schema()
    graph.ensure_schema()


def test_create_get_replace_delete(graph: GraphStore) -> None:
    memory = make_memory("Alice uses PostgreSQL", tags=["Project/Loci"], metadata={"source": "chat", "n": [1, 2]})
    graph.memories.create([memory])
    loaded = graph.memories.get(memory.id)
    assert loaded is not None
    assert loaded.content == memory.content
    assert loaded.tags == ["Project/Loci"]
    assert loaded.tag_prefixes == ["project", "project:loci"]
    assert loaded.metadata == {"source": "chat", "n": [1, 2]}
    assert loaded.embedding_status is StageStatus.PENDING

    assert graph.memories.update(
        loaded.with_changes(content="Alice uses SQLite", importance=0.9), ["content", "importance"]
    )
    changed = graph.memories.get(memory.id)
    assert changed is not None and changed.content == "Alice uses SQLite" and changed.importance == 0.9
    # a partial update leaves fields written by others alone
    graph.pipeline.mark_embedded([(memory.id, content_hash("Alice uses SQLite"))])
    assert graph.memories.update(changed.with_changes(tags=["x"]), ["tags"])
    after = graph.memories.get(memory.id)
    assert after is not None and after.embedding_status is StageStatus.COMPLETED and after.tag_keys == ["x"]

    assert graph.memories.delete(memory.id)
    assert graph.memories.get(memory.id) is None
    assert not graph.memories.delete(memory.id)
    assert not graph.memories.update(memory, ["content"])


def test_iter_ids_pages_past_the_page_size(graph: GraphStore) -> None:
    memories = [make_memory(f"note {n}") for n in range(25)]
    graph.memories.create(memories)
    assert sorted(graph.memories.iter_ids(page_size=7)) == sorted(m.id for m in memories)


def test_mark_embedded_skips_memories_edited_meanwhile(graph: GraphStore) -> None:
    kept, edited = make_memory("first text"), make_memory("second text")
    graph.memories.create([kept, edited])
    graph.memories.update(edited.with_changes(content="second text, edited"), ["content"])
    marked = graph.pipeline.mark_embedded(
        [(kept.id, content_hash(kept.content)), (edited.id, content_hash(edited.content))]
    )
    assert marked == [kept.id]
    assert list(graph.memories.iter_ids(status=StageStatus.PENDING)) == [edited.id]


def test_word_matches_count_the_whole_store_and_list_the_filtered_ids(graph: GraphStore) -> None:
    a = make_memory(
        "The deployment pipeline uses Kubernetes", tags=["project:loci"], timestamp="2026-01-01T00:00:00+00:00"
    )
    b = make_memory("Kubernetes clusters upgraded", tags=["ops"], timestamp="2026-02-01T00:00:00+00:00")
    c = make_memory("Lunch was pasta", tags=["project:loci"])
    d = make_memory("Kubernetes notes, archived", archived=True)
    graph.memories.create([a, b, c, d])

    def found(where: MemoryFilter, word: str = "kubernetes", limit: int = 10) -> tuple[int, set[str]]:
        total, matches = graph.search.word_matches([word, "absent"], where, limit)
        assert total == 4 and matches["absent"] == (0, [])
        count, ids = matches[word]
        return count, set(ids)

    assert found(MemoryFilter()) == (3, {a.id, b.id})  # counted in the whole store, listed under the filter
    assert found(MemoryFilter(tags=("project",))) == (3, {a.id})
    assert found(MemoryFilter(exclude_tags=("project",))) == (3, {b.id})
    assert found(MemoryFilter(start="2026-01-15T00:00:00+00:00")) == (3, {b.id})
    assert found(MemoryFilter(include_archived=True)) == (3, {a.id, b.id, d.id})
    assert found(MemoryFilter(include_archived=True), limit=2) == (3, set())  # too common to list
    assert found(MemoryFilter(), word="cluster") == (1, {b.id})  # stemmed: "cluster" finds "clusters"


def test_predecessors_are_the_nearest_earlier_memories(graph: GraphStore) -> None:
    memories = [make_memory(f"turn {n}", timestamp=f"2026-03-01T10:00:0{n}+00:00") for n in range(4)]
    graph.memories.create(memories)
    rows = [(m.id, epoch(m.timestamp) or 0.0, m.stored_at) for m in memories]
    graph.enrichment.link_preceding(rows, window=3600, limit=3)
    ids = [m.id for m in memories]
    assert graph.search.predecessors(ids) == {ids[1]: ids[0], ids[2]: ids[1], ids[3]: ids[2]}


def test_time_windows_hold_at_both_ends(graph: GraphStore) -> None:
    stamps = [f"2026-{month:02d}-15T12:00:00+00:00" for month in range(1, 13)]
    memories = [make_memory(f"month {n}", timestamp=stamp) for n, stamp in enumerate(stamps, start=1)]
    graph.memories.create(memories)
    where = MemoryFilter(start="2026-03-01T00:00:00+00:00", end="2026-05-15T12:00:00+00:00")
    found = sorted(m.timestamp for m in graph.search.list_memories(where, "time_asc", 50))
    assert found == stamps[2:5]  # March, April, May (the end is inclusive)
    assert [m.timestamp for m in graph.search.list_memories(MemoryFilter(end=stamps[0]), "time_asc", 50)] == stamps[:1]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (MemoryFilter(tags=("project",)), {"x", "y"}),
        (MemoryFilter(tags=("project",), tag_match=TagMatch.EXACT), set()),
        (MemoryFilter(tags=("project:loci",), tag_match=TagMatch.EXACT), {"x"}),
        (MemoryFilter(tags=("project:loci", "urgent"), tag_mode=TagMode.ALL), {"x"}),
        (MemoryFilter(tags=("project:loci", "urgent"), tag_mode=TagMode.ANY), {"x", "z"}),
        (MemoryFilter(excluded_types=("Decision",)), {"y", "z"}),
        (MemoryFilter(types=("Decision", "Habit")), {"x", "z"}),
        (MemoryFilter(min_importance=0.5), {"x", "y"}),
        (MemoryFilter(min_importance=0.8), {"x"}),
        (MemoryFilter(types=("Context",), min_importance=0.3), {"y"}),
    ],
)
def test_list_memories_filters(graph: GraphStore, where: MemoryFilter, expected: set[str]) -> None:
    by_name = {
        "x": make_memory("x", tags=["Project:Loci", "urgent"], type="Decision", importance=0.8),
        "y": make_memory("y", tags=["project/other"]),
        "z": make_memory("z", tags=["urgent"], type="Habit", importance=0.2),
    }
    graph.memories.create(list(by_name.values()))
    found = {m.id for m in graph.search.list_memories(where, "importance", 50)}
    assert found == {by_name[name].id for name in expected}
    # the same filter applied in Python agrees with the Cypher one
    assert {m.id for m in by_name.values() if where.matches(m)} == found


def test_newest_page_walks_ties_without_repeats_or_gaps(graph: GraphStore) -> None:
    # many memories share each timestamp, so most page ends fall inside a tie, where the id decides
    stamps = ["2026-01-10T12:00:00+00:00", "2026-01-10T12:00:00.000001+00:00", "2026-02-01T00:00:00+00:00"]
    memories = [make_memory(f"m{n}", timestamp=stamps[n % 3]) for n in range(30)]
    graph.memories.create(memories)
    expected = [m.id for m in sorted(memories, key=lambda m: (epoch(m.timestamp), m.id), reverse=True)]
    seen: list[str] = []
    after: tuple[float, str] | None = None
    for _ in range(20):
        page = graph.search.newest_page(MemoryFilter(), after, 4)
        seen += [m.id for m in page]
        if len(page) < 4:
            break
        last = page[-1]
        after = (epoch(last.timestamp) or 0.0, last.id)
    assert seen == expected


def test_by_tag_pages_and_deletes(graph: GraphStore) -> None:
    tagged = [make_memory(f"t{n}", tags=["Batch"], importance=n / 10) for n in range(5)]
    graph.memories.create([*tagged, make_memory("other", tags=["keep"])])
    first = graph.memories.by_tag(["batch"], limit=2, offset=0)
    assert [m.importance for m in first] == [0.4, 0.3]
    assert len(graph.memories.by_tag(["batch"], limit=10, offset=2)) == 3
    deleted = graph.memories.delete_page_by_tag(["batch"], limit=3) + graph.memories.delete_page_by_tag(
        ["batch"], limit=3
    )
    assert sorted(deleted) == sorted(m.id for m in tagged)
    assert graph.memories.count() == 1


def test_associate_related_and_neighbors(graph: GraphStore) -> None:
    a, b, c = make_memory("a"), make_memory("b"), make_memory("c", importance=0.9)
    graph.memories.create([a, b, c])
    rows = [
        {"idx": 0, "src": a.id, "dst": b.id, "strength": 0.7, "props": {"reason": "because"}},
        {"idx": 1, "src": b.id, "dst": str(uuid.uuid4()), "strength": 0.5, "props": {}},
    ]
    assert graph.relations.associate(RelationType.LEADS_TO, rows, "2026-01-01T00:00:00+00:00") == [0]
    graph.relations.associate(
        RelationType.RELATES_TO, [{"idx": 0, "src": c.id, "dst": b.id, "strength": 0.4, "props": {}}], "t"
    )
    # MERGE: the same pair and type again updates instead of duplicating
    graph.relations.associate(RelationType.LEADS_TO, [{**rows[0], "strength": 0.8}], "t2")
    related = graph.relations.related(a.id, [RelationType.LEADS_TO, RelationType.RELATES_TO], depth=2, limit=10)
    assert [(r.memory.id, r.depth) for r in related] == [(c.id, 2), (b.id, 1)]
    only_one_hop = graph.relations.related(a.id, [RelationType.LEADS_TO], depth=1, limit=10)
    assert [r.memory.id for r in only_one_hop] == [b.id]
    edges = graph.relations.neighbors([b.id], [RelationType.LEADS_TO, RelationType.RELATES_TO], per_seed=5)
    assert {(n.memory.id, n.relation, n.outgoing) for n in edges} == {
        (a.id, "LEADS_TO", False),
        (c.id, "RELATES_TO", False),
    }
    assert next(n for n in edges if n.memory.id == a.id).strength == 0.8
    assert graph.relations.outgoing_edges([a.id])[a.id] == [{"type": "LEADS_TO", "memory_id": b.id, "strength": 0.8}]


def link(graph: GraphStore, kind: RelationType, src: Memory, dst: Memory) -> None:
    graph.relations.associate(kind, [{"idx": 0, "src": src.id, "dst": dst.id, "strength": 1.0, "props": {}}], "t")


def test_successors_follow_the_chain_furthest_first(graph: GraphStore) -> None:
    v1, v2, v3, lone = make_memory("v1"), make_memory("v2"), make_memory("v3"), make_memory("lone")
    graph.memories.create([v1, v2, v3, lone])
    link(graph, RelationType.EVOLVED_INTO, v1, v2)
    link(graph, RelationType.INVALIDATED_BY, v2, v3)
    chains = graph.relations.successors([v1.id, v2.id, v3.id, lone.id])
    assert {old: [m.id for m in chain] for old, chain in chains.items()} == {v1.id: [v3.id, v2.id], v2.id: [v3.id]}


def test_successors_of_a_long_chain_reach_its_end(graph: GraphStore) -> None:
    versions = [make_memory(f"version {n}") for n in range(8)]
    graph.memories.create(versions)
    for old, new in itertools.pairwise(versions):
        link(graph, RelationType.EVOLVED_INTO, old, new)
    chains = graph.relations.successors([v.id for v in versions])
    assert set(chains) == {v.id for v in versions[:-1]}
    assert all(chain[0].id == versions[-1].id for chain in chains.values())


def test_successors_survive_a_cycle(graph: GraphStore) -> None:
    a, b = make_memory("a"), make_memory("b")
    graph.memories.create([a, b])
    link(graph, RelationType.EVOLVED_INTO, a, b)
    link(graph, RelationType.EVOLVED_INTO, b, a)
    chains = graph.relations.successors([a.id, b.id])
    assert {old: [m.id for m in chain] for old, chain in chains.items()} == {a.id: [b.id], b.id: [a.id]}


def test_preceded_by_orders_ties_by_arrival_then_id(graph: GraphStore) -> None:
    stamp = "2026-03-01T09:00:00+00:00"
    same = sorted((make_memory(f"line {n}", timestamp=stamp, stored_at=stamp) for n in range(3)), key=lambda m: m.id)
    graph.memories.create(same)
    epoch = 1772355600.0
    graph.enrichment.link_preceding([(m.id, epoch, stamp) for m in same], window=7 * 86400, limit=5)
    rows = graph.query("MATCH (a:Memory)-[:PRECEDED_BY]->(b:Memory) RETURN a.id, b.id")
    a, b, c = (m.id for m in same)
    assert {(x, y) for x, y in rows} == {(b, a), (c, a), (c, b)}


def test_decay_rows_page_through_everything(graph: GraphStore) -> None:
    memories = [make_memory(f"m {n}", importance=0.1 * (n % 10)) for n in range(9)]
    graph.memories.create(memories)
    graph.relations.associate(
        RelationType.RELATES_TO,
        [{"idx": 0, "src": memories[0].id, "dst": memories[1].id, "strength": 1, "props": {}}],
        "t",
    )
    pages = list(graph.maintenance.iter_decay_rows(min_importance=None, excluded_types=(), page_size=4))
    assert [len(page) for page in pages] == [4, 4, 1]
    rows = {row.id: row for page in pages for row in page}
    assert set(rows) == {m.id for m in memories}
    assert rows[memories[0].id].edges == 1 and rows[memories[2].id].edges == 0
    important = [r for page in graph.maintenance.iter_decay_rows(min_importance=0.5, excluded_types=()) for r in page]
    assert {r.id for r in important} == {m.id for m in memories if m.importance >= 0.5}
