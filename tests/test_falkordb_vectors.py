"""FalkorVectorStore beyond the shared contract: the filter widening, the index's dimension, vectors on
nodes (deleted with them, never a payload copy), recall against exact search, and the service on it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import numpy as np
import pytest
from flask import Flask

from loci.config import Settings
from loci.errors import ConfigError, StoreError
from loci.model import EMBEDDING_PROPERTY, Memory
from loci.services import Services
from loci.stores.falkordb_server import FalkorDBServer
from loci.stores.falkordb_vectors import MAX_INDEX_K, FalkorVectorStore
from loci.stores.filters import MemoryFilter
from loci.stores.graph import GraphStore
from loci.stores.vectors import VectorPoint
from tests.conftest import DIMENSION
from tests.helpers import store

ADMIN = {"Authorization": "Bearer api-token", "X-Admin-Token": "admin-token"}


def memory(tags: list[str] | None = None, content: str = "a memory", memory_id: str | None = None) -> Memory:
    return Memory.from_node(
        {"id": memory_id or str(uuid.uuid4()), "content": content, "tags": tags or [], "type": "Context"}
    )


def unit_rows(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def load(vectors: FalkorVectorStore, rows: np.ndarray, tags: list[list[str]] | None = None) -> list[str]:
    """Memory nodes through the graph (as the write path makes them), then their vectors; returns their ids."""
    made = [memory(tags[n] if tags else None) for n in range(len(rows))]
    for low in range(0, len(made), 1000):
        vectors.graph.memories.create(made[low : low + 1000])
        vectors.upsert([VectorPoint(m.id, rows[low + i].tolist()) for i, m in enumerate(made[low : low + 1000])])
    return [m.id for m in made]


@pytest.fixture
def vectors(graph: GraphStore) -> FalkorVectorStore:
    return FalkorVectorStore(graph, dimension=DIMENSION, ef_runtime=10)


def test_a_selective_filter_widens_past_the_first_candidates(vectors: FalkorVectorStore) -> None:
    """The memories passing a filter lie beyond the index's first walk ("common": ranks 300 to 329,
    found by widening it; "rare": beyond MAX_INDEX_K, found by the exact pass): the search still
    returns `limit` of them, the nearest ones."""
    rng = np.random.default_rng(5)
    query = unit_rows(rng.standard_normal((1, DIMENSION)))[0]
    near = unit_rows(query + rng.standard_normal((MAX_INDEX_K + 300, DIMENSION)) * 0.03)
    rare = unit_rows(rng.standard_normal((12, DIMENSION)))  # anywhere: far from the query
    rows = np.vstack([near, rare])
    distances = 1 - rows @ query
    tags: list[list[str]] = [[] for _ in rows]
    for n in np.argsort(distances)[300:330]:
        tags[n] = ["common"]
    for n in range(len(near), len(rows)):
        tags[n] = ["rare"]
    ids = load(vectors, rows, tags)
    for tag, least in (("common", 8), ("rare", 10)):
        hits = vectors.search(query.tolist(), 10, MemoryFilter(tags=(tag,)))
        assert len(hits) == 10 and all(tag in tags[ids.index(h.id)] for h in hits)
        tagged = [n for n in range(len(rows)) if tag in tags[n]]
        exact = {ids[n] for n in sorted(tagged, key=lambda n: distances[n])[:10]}
        assert len(exact & {h.id for h in hits}) >= least  # the walk is approximate; the exact pass is not
        assert [h.score for h in hits] == pytest.approx([1 - distances[ids.index(h.id)] for h in hits], abs=1e-4)


def test_an_existing_index_dimension_is_adopted_or_refused(graph: GraphStore) -> None:
    FalkorVectorStore(graph, dimension=8).close()
    adopted = FalkorVectorStore(graph, dimension=16, autodetect=True)
    assert adopted.dimension == 8
    with pytest.raises(StoreError, match="16 dimensions; the index holds 8"):
        adopted.search([0.1] * 16, 3, MemoryFilter())
    with pytest.raises(ConfigError, match="VECTOR_SIZE_AUTODETECT=false"):
        FalkorVectorStore(graph, dimension=16, autodetect=False)


def test_a_deleted_memory_leaves_the_search_and_delete_keeps_the_node(vectors: FalkorVectorStore) -> None:
    rng = np.random.default_rng(6)
    rows = unit_rows(rng.standard_normal((20, DIMENSION)))
    ids = load(vectors, rows)
    assert vectors.search(rows[3].tolist(), 1, MemoryFilter())[0].id == ids[3]

    vectors.graph.memories.delete(ids[3])  # the memory goes, and its vector with its node
    assert ids[3] not in {h.id for h in vectors.search(rows[3].tolist(), 20, MemoryFilter())}
    assert vectors.count() == 19 and ids[3] not in set(vectors.iter_ids(page_size=7))

    vectors.delete([ids[4]])  # the vector goes; the memory stays, without it
    assert ids[4] not in {h.id for h in vectors.search(rows[4].tolist(), 20, MemoryFilter())}
    kept = vectors.graph.memories.get(ids[4])
    assert kept is not None and EMBEDDING_PROPERTY not in kept.to_api() and EMBEDDING_PROPERTY not in kept.extra
    assert vectors.count() == 18 and vectors.retrieve([ids[4]]) == []


def test_upsert_writes_only_vectors_and_only_onto_existing_nodes(vectors: FalkorVectorStore) -> None:
    rng = np.random.default_rng(7)
    a, b = unit_rows(rng.standard_normal((2, DIMENSION)))
    kept = memory(content="first words")
    vectors.graph.memories.create([kept])
    vectors.graph.memories.update(kept.with_changes(content="edited words"), ["content"])  # a PATCH meanwhile
    gone = str(uuid.uuid4())
    vectors.upsert([VectorPoint(kept.id, a.tolist(), kept.payload()), VectorPoint(gone, b.tolist(), kept.payload())])
    assert vectors.graph.memories.get(gone) is None  # no memory brought back for a vector
    (point,) = vectors.retrieve([kept.id, gone], with_vectors=True)
    assert point.payload["content"] == "edited words"  # the node as it is, not the payload handed in
    assert np.allclose(point.vector or [], a, atol=1e-6)
    vectors.set_payloads([(kept.id, {"content": "stale", "archived": True})])
    assert vectors.retrieve([kept.id])[0].payload["content"] == "edited words"
    with pytest.raises(StoreError, match="3 dimensions"):
        vectors.upsert([VectorPoint(kept.id, [1.0, 0.0, 0.0])])


def test_scores_are_cosine_similarities(vectors: FalkorVectorStore) -> None:
    rng = np.random.default_rng(8)
    rows = rng.standard_normal((5, DIMENSION)) * 3  # not unit length: cosine must not care
    ids = load(vectors, rows)
    query = rng.standard_normal(DIMENSION)
    cosine = (rows @ query) / (np.linalg.norm(rows, axis=1) * np.linalg.norm(query))
    scores = vectors.similarities(query.tolist(), ids)
    assert [scores[i] for i in ids] == pytest.approx(cosine.tolist(), abs=1e-4)
    hits = vectors.search(query.tolist(), 5, MemoryFilter())
    assert [h.score for h in hits] == pytest.approx(sorted(cosine.tolist(), reverse=True), abs=1e-4)


def test_recall_at_10_against_exact_search_at_the_default_ef(graph: GraphStore) -> None:
    vectors = FalkorVectorStore(graph, dimension=DIMENSION, ef_runtime=Settings().falkordb_ef_runtime)
    rng = np.random.default_rng(9)
    centres = unit_rows(rng.standard_normal((40, DIMENSION)))
    rows = unit_rows(centres[rng.integers(0, 40, 2000)] + rng.standard_normal((2000, DIMENSION)) * 0.06)
    queries = unit_rows(centres[rng.integers(0, 40, 100)] + rng.standard_normal((100, DIMENSION)) * 0.06)
    ids = load(vectors, rows)
    exact = np.argsort(-(queries @ rows.T), axis=1)[:, :10]
    recalls = [
        len({h.id for h in vectors.search(q.tolist(), 10, MemoryFilter())} & {ids[n] for n in true}) / 10
        for q, true in zip(queries, exact, strict=True)
    ]
    assert float(np.mean(recalls)) >= 0.95


def test_the_service_on_falkordb_alone_recalls_by_meaning(make_app: Callable[..., Flask]) -> None:
    app = make_app(vector_store="falkordb", api_token="api-token", admin_token="admin-token")
    svc: Services = app.extensions["loci"]
    client = app.test_client()
    assert isinstance(svc.vectors, FalkorVectorStore) and not (svc.settings.data_dir / "qdrant").exists()
    wanted = store(client, "The team moved the weekly planning meeting to Thursday mornings", headers=ADMIN)
    store(client, "Paris is the capital of France", headers=ADMIN)
    svc.embedding_worker.drain()
    assert svc.vectors.count() == 2
    response = client.get("/recall", query_string={"query": "when do we plan the week?", "limit": 1}, headers=ADMIN)
    assert response.status_code == 200 and response.json["results"][0]["id"] == wanted
    shown = client.get(f"/memory/{wanted}", headers=ADMIN).json
    assert EMBEDDING_PROPERTY not in str(shown.keys()) and EMBEDDING_PROPERTY not in shown.get("memory", {})
    assert client.get("/health").json["vector_store"] == "falkordb"


def test_a_restore_onto_falkordb_keeps_the_backup_vectors(make_app: Callable[..., Flask]) -> None:
    """The vectors of restored memories land although the store needs their nodes first."""
    app = make_app(vector_store="falkordb", api_token="api-token", admin_token="admin-token")
    svc: Services = app.extensions["loci"]
    vector = unit_rows(np.random.default_rng(10).standard_normal((1, svc.vectors.dimension)))[0].tolist()
    restored = str(uuid.uuid4())
    page = {"memories": [{"id": restored, "content": "restored with its vector", "vector": vector}]}
    response = app.test_client().post("/admin/restore", json=page, headers=ADMIN)
    assert response.status_code == 200, response.json
    assert response.json["vectors"] == 1 and response.json["reembed"] == 0
    (point,) = svc.vectors.retrieve([restored], with_vectors=True)
    assert np.allclose(point.vector or [], vector, atol=1e-6)


def test_falkordb_vectors_refuse_a_qdrant_server_too() -> None:
    with pytest.raises(ConfigError, match="VECTOR_STORE=falkordb"):
        Settings.from_env({"VECTOR_STORE": "falkordb", "QDRANT_URL": "http://127.0.0.1:6333"})


def test_processes_opening_a_new_namespace_at_once_all_succeed(falkordb: FalkorDBServer) -> None:
    """A fleet's processes meet a new namespace together (its first write, the workers' namespace watch):
    each finds no index and creates it; the ones that lose the race must open it as it is."""
    name = f"race_{uuid.uuid4().hex[:8]}"
    failures: list[BaseException] = []
    opened: list[GraphStore] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def open_one() -> None:
        graph = GraphStore(falkordb.host, falkordb.port, name)
        with lock:
            opened.append(graph)
        try:
            start.wait()
            graph.ensure_schema()
            FalkorVectorStore(graph, DIMENSION)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert failures == []
        assert opened[0].vectors.index_options() is not None
    finally:
        opened[0].delete_graph()
        for graph in opened:
            graph.close()
