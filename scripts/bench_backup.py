"""Backup and restore round trip: N memories with edges and vectors through GET /backup and
`python -m loci restore` into a fresh service, then the same recall answers on both.

    .venv/bin/python scripts/bench_backup.py [--count 10000] [--queries 50]

Both services run under gunicorn (ServiceProcess). Memories are stored with precomputed
vectors of the store's dimension (no model time); the source settles (embedded and
enriched) before its backup. Prints JSON: archive size, backup and restore seconds, and
how many of the recall answers (ids, in order) are the same.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from service_process import ServiceProcess

ADMIN = "bench-admin"
BATCH = 500
SEED = 7
TOPICS = ("database", "deployment", "billing", "search", "onboarding", "alerts", "cache", "payments")


def _vector(rng: random.Random, dim: int) -> list[float]:
    return [round(rng.uniform(-1, 1), 4) for _ in range(dim)]


def _settle(client: httpx.Client, ids: list[str], timeout: float = 600.0) -> None:
    """Poll /memory/status until no memory is pending (each completed or failed)."""
    deadline = time.monotonic() + timeout
    waiting = ids
    while waiting:
        still: list[str] = []
        for start in range(0, len(waiting), 5000):
            body = client.post("/memory/status", json={"ids": waiting[start : start + 5000]}).json()
            still += body["pending_ids"]
        waiting = still
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"{len(waiting)} memories still pending after {timeout:.0f}s")
        if waiting:
            time.sleep(0.5)


def _answers(client: httpx.Client, queries: list[list[float]]) -> list[list[str]]:
    answers = []
    for query in queries:
        params: dict[str, str | int] = {"embedding": ",".join(f"{x:.4f}" for x in query), "limit": 10}
        response = client.get("/recall", params=params)
        response.raise_for_status()
        answers.append([r["id"] for r in response.json()["results"]])
    return answers


def round_trip(work: Path, count: int = 10_000, queries: int = 50) -> dict[str, Any]:
    """Fill a service, back it up, restore into a fresh one, compare recall; the figures."""
    from loci.cli import main

    rng = random.Random(SEED)
    # exact vector search on both sides: the HNSW index is built at its own pace and is approximate, so
    # the same data can answer differently while one side has built it and the other has not
    env = {"ADMIN_API_TOKEN": ADMIN, "LOCI_EXACT_VECTOR_SEARCH": "true"}
    figures: dict[str, Any] = {"count": count, "queries": queries}
    archive = work / "backup.tar.gz"
    with (
        ServiceProcess(work / "source", work / "source.log", env) as source,
        httpx.Client(base_url=source.base_url, timeout=300) as client,
    ):
        dim = client.get("/health").json()["vector_dimensions"]["effective"]
        ids: list[str] = []
        for start in range(0, count, BATCH):
            items = [
                {
                    "content": f"Note {n} on {TOPICS[n % len(TOPICS)]}: item {rng.randrange(10**6)} reviewed",
                    "tags": [f"topic:{TOPICS[n % len(TOPICS)]}", f"batch:{start // BATCH}"],
                    "importance": round(rng.random(), 3),
                    "timestamp": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00+00:00",
                    "type": "Context",
                    "embedding": _vector(rng, dim),
                }
                for n in range(start, min(count, start + BATCH))
            ]
            response = client.post("/memory/batch", json={"memories": items})
            response.raise_for_status()
            ids += response.json()["memory_ids"]
        pairs = [
            {"memory1_id": a, "memory2_id": b, "type": "RELATES_TO"} for a, b in zip(ids[::2], ids[1::2], strict=False)
        ]
        for start in range(0, len(pairs), BATCH):
            client.post("/associate", json={"associations": pairs[start : start + BATCH]}).raise_for_status()
        _settle(client, ids)
        probes = [_vector(rng, dim) for _ in range(queries)]
        before = _answers(client, probes)
        started = time.perf_counter()
        with client.stream("GET", "/backup", headers={"X-Admin-Token": ADMIN}) as response:
            response.raise_for_status()
            with archive.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
        figures["backup_seconds"] = round(time.perf_counter() - started, 2)
        figures["bytes"] = archive.stat().st_size
    with (
        ServiceProcess(work / "target", work / "target.log", env) as target,
        httpx.Client(base_url=target.base_url, timeout=300) as client,
    ):
        started = time.perf_counter()
        report = io.StringIO()
        stdout, sys.stdout = sys.stdout, report
        try:
            status = main(["restore", str(archive), "--url", target.base_url, "--admin-token", ADMIN])
        finally:
            sys.stdout = stdout
        figures["restore_seconds"] = round(time.perf_counter() - started, 2)
        figures["restore_status"], figures["restore_report"] = status, report.getvalue().splitlines()
        _settle(client, ids)
        figures["settled_seconds"] = round(time.perf_counter() - started, 2)
        after = _answers(client, probes)
    figures["restored"] = int(figures["restore_report"][0].split(":")[1].split("(")[0])
    edge_line = next(line for line in figures["restore_report"] if line.startswith("patterns and entities"))
    figures["edges_restored"] = int(edge_line.split("edges: ")[1].split(" ")[0])
    figures["edges"] = len(pairs)
    figures["same_answers"] = sum(a == b for a, b in zip(before, after, strict=True))
    figures["differences"] = [(a, b) for a, b in zip(before, after, strict=True) if a != b][:3]
    figures["cpus"] = os.cpu_count()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--dir", type=Path, default=Path("bench-results/backup"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    figures = round_trip(Path(tempfile.mkdtemp(dir=args.dir)), args.count, args.queries)
    figures.pop("differences")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
