"""The VectorStore contract, run against every implementation (embedded Qdrant, qdrant-client, FalkorDB).

A FalkorDB vector lives on its memory's node, so `put` writes the memory through the graph
first (as the write path does) where the store is `on_graph`; its payload is that node.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from loci.errors import ConfigError
from loci.model import Memory, tag_keys, tag_prefixes
from loci.stores.falkordb_vectors import FalkorVectorStore
from loci.stores.filters import MemoryFilter, TagMatch, TagMode
from loci.stores.qdrant_embedded import EmbeddedQdrantStore
from loci.stores.vectors import VectorPoint, VectorStore
from tests.conftest import DIMENSION


def unit(seed: int) -> list[float]:
    vector = np.random.default_rng(seed).standard_normal(DIMENSION)
    return (vector / np.linalg.norm(vector)).tolist()


def point(seed: int, *, tags: list[str] | None = None, **payload: object) -> VectorPoint:
    tags = tags or []
    body = {
        "content": f"memory {seed}",
        "type": "Context",
        "timestamp": "2026-01-10T00:00:00+00:00",
        "tags": tags,
        "tag_prefixes": tag_prefixes(tags),
        "tag_keys": tag_keys(tags),
        "archived": False,
        **payload,
    }
    return VectorPoint(str(uuid.uuid4()), unit(seed), body)


def put(store: VectorStore, points: list[VectorPoint]) -> None:
    """Upsert these points; for a store on the graph, write (or rewrite) their memories' nodes first."""
    if isinstance(store, FalkorVectorStore):
        memories = [Memory.from_node({"id": p.id, **p.payload}) for p in points]
        present = store.graph.memories.existing_ids([m.id for m in memories])
        store.graph.memories.create([m for m in memories if m.id not in present])
        for memory in (m for m in memories if m.id in present):
            store.graph.memories.update(memory, ["content", "type", "timestamp", "tags", "archived"])
    store.upsert(points)


def test_upsert_search_retrieve_delete(vector_store: VectorStore) -> None:
    points = [point(n) for n in range(10)]
    put(vector_store, points)
    assert vector_store.count() == 10
    hits = vector_store.search(points[3].vector or [], 3, MemoryFilter(), with_payload=True)
    assert hits[0].id == points[3].id
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert hits[0].payload["content"] == "memory 3"

    (got,) = vector_store.retrieve([points[5].id], with_vectors=True)
    assert got.payload["content"] == "memory 5"
    assert np.allclose(got.vector or [], points[5].vector or [], atol=1e-5)
    assert vector_store.retrieve([str(uuid.uuid4())]) == []

    vector_store.delete([points[3].id])
    assert vector_store.count() == 9
    assert vector_store.search(points[3].vector or [], 1, MemoryFilter())[0].id != points[3].id


def test_upsert_replaces_payload(vector_store: VectorStore) -> None:
    original = point(1, tags=["a"])
    put(vector_store, [original])
    put(vector_store, [VectorPoint(original.id, original.vector, {**original.payload, "content": "changed"})])
    assert vector_store.count() == 1
    assert vector_store.retrieve([original.id])[0].payload["content"] == "changed"


def test_iter_ids_pages_through_everything(vector_store: VectorStore) -> None:
    points = [point(n) for n in range(23)]
    put(vector_store, points)
    assert sorted(vector_store.iter_ids(page_size=5)) == sorted(p.id for p in points)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (MemoryFilter(tags=("project",)), {"x", "y"}),
        (MemoryFilter(tags=("project:loci",), tag_match=TagMatch.EXACT), {"x"}),
        (MemoryFilter(tags=("project",), tag_match=TagMatch.EXACT), set()),
        (MemoryFilter(tags=("project:loci", "urgent"), tag_mode=TagMode.ALL), {"x"}),
        (MemoryFilter(exclude_tags=("urgent",)), {"y", "old"}),
        (MemoryFilter(excluded_types=("Decision",)), {"y", "z", "old"}),
        (MemoryFilter(start="2026-01-01T00:00:00+00:00"), {"x", "y", "z"}),
        (MemoryFilter(end="2025-12-31T00:00:00+00:00"), {"old"}),
    ],
)
def test_filters(vector_store: VectorStore, where: MemoryFilter, expected: set[str]) -> None:
    by_name = {
        "x": point(1, tags=["Project:Loci", "urgent"], type="Decision"),
        "y": point(2, tags=["project/other"]),
        "z": point(3, tags=["urgent"]),
        "old": point(4, timestamp="2025-06-01T00:00:00+00:00"),
    }
    put(vector_store, list(by_name.values()))
    hits = vector_store.search(unit(99), 10, where)
    names = {name for name, p in by_name.items() if p.id in {h.id for h in hits}}
    assert names == expected


def test_existing_collection_of_another_size_is_adopted_or_refused(tmp_path: Path) -> None:
    EmbeddedQdrantStore(tmp_path / "q", dimension=8).close()
    adopted = EmbeddedQdrantStore(tmp_path / "q", dimension=16, autodetect=True)
    assert adopted.dimension == 8
    adopted.close()
    with pytest.raises(ConfigError, match="VECTOR_SIZE_AUTODETECT=false"):
        EmbeddedQdrantStore(tmp_path / "q", dimension=16, autodetect=False)


def test_embedded_store_keeps_points_across_reopen(tmp_path: Path) -> None:
    store = EmbeddedQdrantStore(tmp_path / "q", dimension=DIMENSION)
    points = [point(n) for n in range(5)]
    put(store, points)
    store.close()
    reopened = EmbeddedQdrantStore(tmp_path / "q", dimension=DIMENSION)
    assert reopened.count() == 5
    assert reopened.search(points[2].vector or [], 1, MemoryFilter())[0].id == points[2].id
    reopened.close()


def test_search_batch_matches_single_searches(vector_store: VectorStore) -> None:
    points = [point(n, tags=["even"] if n % 2 == 0 else []) for n in range(12)]
    put(vector_store, points)
    queries = [points[0].vector or [], points[5].vector or [], unit(77)]
    where = MemoryFilter(tags=("even",))
    batch = vector_store.search_batch(queries, 3, where)
    assert [[h.id for h in hits] for hits in batch] == [
        [h.id for h in vector_store.search(q, 3, where)] for q in queries
    ]
    assert batch[0][0].id == points[0].id and batch[1][0].id != points[5].id  # 5 is odd: filtered out
    assert vector_store.search_batch([], 3, where) == []


def test_similarities_score_the_given_points_only(vector_store: VectorStore) -> None:
    points = [point(n) for n in range(20)]
    put(vector_store, points)
    query = unit(99)
    wanted = [points[2].id, points[7].id, points[15].id, str(uuid.uuid4())]  # the last one is not stored
    scores = vector_store.similarities(query, wanted)
    assert set(scores) == set(wanted[:3])
    for p in points:
        if p.id in scores:
            assert scores[p.id] == pytest.approx(float(np.dot(query, p.vector or [])), abs=1e-4)
    assert vector_store.similarities(query, []) == {}


def test_set_payloads_changes_only_the_given_fields(vector_store: VectorStore) -> None:
    if vector_store.on_graph:
        pytest.skip("no payload copy: the node is the record (test_falkordb_vectors.py, set_payloads)")
    a, b = point(1), point(2)
    put(vector_store, [a, b])
    vector_store.set_payloads(
        [(a.id, {"relevance_score": 0.25}), (b.id, {"archived": True}), (str(uuid.uuid4()), {"x": 1})]
    )
    got = {p.id: p.payload for p in vector_store.retrieve([a.id, b.id])}
    assert got[a.id]["relevance_score"] == 0.25 and got[a.id]["content"] == "memory 1"
    assert got[b.id]["archived"] is True and vector_store.count() == 2
