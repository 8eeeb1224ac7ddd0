"""Fleet benchmark: a fleet of Loci processes on one FalkorDB server (VECTOR_STORE=falkordb, shared queues).

1. Pipeline throughput: memories per second from the first store to the last completed
   (embedded and enriched) with 1, 2 and 4 worker processes (`python -m loci worker`),
   beside one API process that runs no workers; the embeddings come from a local
   OpenAI-compatible server in its own process answering after 50 ms. The memories are
   spread over several namespaces (enrichment keeps each namespace's order, so one
   namespace is worked by one process at a time; namespaces are worked in parallel).
   Each run starts from an empty FalkorDB server.
2. Recall under load: 2,000 memories embedded by the local model, then recall at
   concurrency 8 for a fixed time against one API process and against two (gunicorn
   LOCI_WEB_PROCESSES=2 on the same port): p50, p95, requests/s.

Ratios are within one run; the machine's other load moves the absolute figures.
Usage: make bench-fleet, or PYTHONPATH=. python scripts/bench_fleet.py [--memories 4000] [--namespaces 8]
[--workers 1,2,4] [--recall-seconds 20] (the embedding server is tests/openai_server.py)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from bench_api import machine, memory_text, query_text
from bench_ingest import _serve_stub
from service_process import ServiceProcess, WorkerProcess

from loci.stores.falkordb_server import FalkorDBServer

ADMIN, API = "bench-admin", "bench-api"
BATCH = 500


def fleet_env(server: FalkorDBServer, provider: dict[str, str]) -> dict[str, str]:
    return {
        "FALKORDB_HOST": server.host,
        "FALKORDB_PORT": str(server.port),
        "VECTOR_STORE": "falkordb",
        "LOCI_QUEUE": "streams",
        "AUTOMEM_API_TOKEN": API,
        "ADMIN_API_TOKEN": ADMIN,
        "CONSOLIDATION_STARTUP_DELAY_SECONDS": "3600",
        "LOCI_LOG_FORMAT": "text",
        "LOG_LEVEL": "WARNING",
        **provider,
    }


def headers(namespace: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {API}", "X-Admin-Token": ADMIN, "X-Loci-Namespace": namespace}


def store(api: ServiceProcess, namespaces: list[str], per_namespace: int, rng: random.Random) -> dict[str, list[str]]:
    """Store through the API, one thread per namespace; the ids by namespace."""
    ids: dict[str, list[str]] = {}

    def send(namespace: str, texts: list[str]) -> None:
        got: list[str] = []
        with httpx.Client(base_url=api.base_url, headers=headers(namespace), timeout=300) as client:
            for first in range(0, len(texts), BATCH):
                items = [{"content": text} for text in texts[first : first + BATCH]]
                answer = client.post("/memory/batch", json={"memories": items})
                answer.raise_for_status()
                got += answer.json()["memory_ids"]
        ids[namespace] = got

    batches = {ns: [f"{memory_text(rng)} ({ns} {n})" for n in range(per_namespace)] for ns in namespaces}
    threads = [threading.Thread(target=send, args=item) for item in batches.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ids


def wait_completed(api: ServiceProcess, ids: dict[str, list[str]], timeout: float = 3600) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=api.base_url, timeout=120) as client:
        for namespace, wanted in ids.items():
            while True:
                counts = client.post("/memory/status", json={"ids": wanted}, headers=headers(namespace)).json()[
                    "counts"
                ]
                if counts["failed"]:
                    raise RuntimeError(f"{counts['failed']} memories failed in {namespace}")
                if counts["completed"] == len(wanted):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{namespace}: {counts}")
                time.sleep(0.5)


def throughput(workers: int, memories: int, namespaces: int, stub_url: str, root: Path) -> dict[str, Any]:
    provider = {
        "EMBEDDING_PROVIDER": "openai",
        "OPENAI_BASE_URL": stub_url,
        "EMBEDDING_MODEL": "stub",
        "VECTOR_SIZE": "384",
    }
    server = FalkorDBServer(root / f"falkordb-{workers}").start()
    try:
        env = fleet_env(server, provider)
        api = ServiceProcess(root / f"api-{workers}", root / f"api-{workers}.log", {**env, "LOCI_RUN_WORKERS": "false"})
        api.start()
        fleet = [WorkerProcess(root / f"worker-{workers}-{n}.log", env).start() for n in range(workers)]
        try:
            names = [f"ns-{n}" for n in range(namespaces)]
            started = time.perf_counter()
            ids = store(api, names, memories // namespaces, random.Random(workers))
            stored = time.perf_counter() - started
            wait_completed(api, ids)
            seconds = time.perf_counter() - started
        finally:
            for process in fleet:
                process.stop()
            api.stop()
    finally:
        server.stop()
    count = sum(len(v) for v in ids.values())
    return {"workers": workers, "memories": count, "seconds": round(seconds, 1), "stored_seconds": round(stored, 1),
            "per_second": round(count / seconds, 1)}  # fmt: skip


def recall_under_load(processes: int, memories: int, seconds: float, root: Path) -> dict[str, Any]:
    server = FalkorDBServer(root / f"falkordb-recall-{processes}").start()
    try:
        env = {**fleet_env(server, {"EMBEDDING_PROVIDER": "local"}), "LOCI_WEB_PROCESSES": str(processes)}
        api = ServiceProcess(root / f"recall-{processes}", root / f"recall-{processes}.log", env).start()
        try:
            rng = random.Random(5)
            ids = store(api, ["default"], memories, rng)
            wait_completed(api, ids)
            samples: list[float] = []
            lock = threading.Lock()
            stop_at = time.monotonic() + seconds

            def load(seed: int) -> None:
                local = random.Random(seed)
                with httpx.Client(base_url=api.base_url, headers=headers("default"), timeout=60) as client:
                    while time.monotonic() < stop_at:
                        began = time.perf_counter()
                        response = client.get("/recall", params={"query": query_text(local), "limit": 10})
                        response.raise_for_status()
                        with lock:
                            samples.append((time.perf_counter() - began) * 1000)

            threads = [threading.Thread(target=load, args=(n,)) for n in range(8)]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - began
        finally:
            api.stop()
    finally:
        server.stop()
    ordered = sorted(samples)
    return {
        "processes": processes,
        "requests": len(samples),
        "per_second": round(len(samples) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[int(0.95 * len(ordered))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=4000)
    parser.add_argument("--namespaces", type=int, default=8)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--latency", type=float, default=0.05, help="the embedding server's answer time, seconds")
    parser.add_argument("--recall-memories", type=int, default=2000)
    parser.add_argument("--recall-seconds", type=float, default=20.0)
    parser.add_argument("--parts", default="throughput,recall", help="which parts to run")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine(), "throughput": [], "recall": []}
    context = multiprocessing.get_context("spawn")  # the stub in a clean process of its own, off this one's GIL
    port_queue: Any = context.Queue()
    stub = context.Process(target=_serve_stub, args=(port_queue, args.latency), daemon=True)
    stub.start()
    stub_url = port_queue.get(timeout=30)
    try:
        with tempfile.TemporaryDirectory(prefix="loci-fleet-") as tmp:
            root = Path(tmp)
            parts = args.parts.split(",")
            for workers in (int(n) for n in args.workers.split(",") if "throughput" in parts):
                row = throughput(workers, args.memories, args.namespaces, stub_url, root)
                results["throughput"].append(row)
                print(json.dumps(row), flush=True)
            for processes in (1, 2) if "recall" in parts else ():
                row = recall_under_load(processes, args.recall_memories, args.recall_seconds, root)
                results["recall"].append(row)
                print(json.dumps(row), flush=True)
    finally:
        stub.terminate()
    for row in results["throughput"]:
        row["ratio_to_one"] = round(row["per_second"] / results["throughput"][0]["per_second"], 2)
    for row in results["recall"]:
        single = results["recall"][0]
        row["p50_ratio_to_one"] = round(row["p50_ms"] / single["p50_ms"], 2)
        row["throughput_ratio_to_one"] = round(row["per_second"] / single["per_second"], 2)
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
