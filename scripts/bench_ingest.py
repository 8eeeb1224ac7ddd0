"""Ingestion benchmark: acknowledgement, end-to-end ingest, and remote-provider concurrency.

1. Acknowledgement over HTTP (Loci under gunicorn, embedded FalkorDB and Qdrant, local
   MiniLM): N distinct memories as single POST /memory at concurrency 8, against N more
   through POST /memory/batch in batches of 500, one request after another. Memories/s
   from the first request sent to the last answer; the workers run meanwhile, as in production.
2. End to end: N memories batch-ingested, then /memory/status polled until all are
   completed (embedded and enriched), against the raw model (sentence-transformers,
   all-MiniLM-L6-v2, batch 64) encoding the same texts in this process, in the same run.
3. Remote provider: a local OpenAI-compatible server (its own process) answering after
   50 ms; M memories embedded by the embedding worker (in-process, threads started, batches
   of --remote-batch) at EMBEDDING_CONCURRENCY 1 against 10.

Usage: python scripts/bench_ingest.py [--memories 5000] [--remote 2000] [--out bench-results/ingest.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_api import machine, memory_text, run_concurrent, timed, wait_drained
from service_process import ServiceProcess

SEED = 11
BATCH = 500


def distinct_texts(rng: random.Random, count: int, tag: str) -> list[str]:
    """Memory-like texts, each unique (a repeat would be answered by de-duplication, which is cheaper)."""
    return [f"{memory_text(rng)} ({tag} {n})" for n in range(count)]


def post_batches(client: httpx.Client, texts: list[str]) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(texts), BATCH):
        items = [{"content": text} for text in texts[start : start + BATCH]]
        response = client.post("/memory/batch", json={"memories": items})
        response.raise_for_status()
        ids += response.json()["memory_ids"]
    return ids


def wait_completed(client: httpx.Client, ids: list[str], timeout: float = 3600) -> None:
    deadline = time.monotonic() + timeout
    waiting = ids
    while waiting:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(waiting)} memories not completed")
        still: list[str] = []
        for start in range(0, len(waiting), 1000):
            body = client.post("/memory/status", json={"ids": waiting[start : start + 1000]}).json()
            if body["failed_ids"]:
                raise RuntimeError(f"memories failed: {body['failed'][:3]}")
            still += body["pending_ids"]
        waiting = still
        if waiting:
            time.sleep(0.1)


def acknowledgement_and_end_to_end(count: int, rng: random.Random) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "service.log"
        with (
            ServiceProcess(Path(tmp) / "data", log) as service,
            httpx.Client(base_url=service.base_url, timeout=120) as client,
        ):
            print(f"service up at {service.base_url} (log: {log})", flush=True)
            post_batches(client, distinct_texts(rng, 600, "warm-up"))  # model, connections, caches
            for text in distinct_texts(rng, 50, "warm-up single"):
                client.post("/memory", json={"content": text})
            wait_drained(client)

            singles = iter(distinct_texts(rng, count, "single"))
            post = lambda c: timed(lambda: c.post("/memory", json={"content": next(singles)}))  # noqa: E731
            started = time.perf_counter()
            run_concurrent(service.base_url, count, 8, post)
            single_s = time.perf_counter() - started
            print(f"single POSTs, c=8: {count} acknowledged in {single_s:.2f}s", flush=True)
            wait_drained(client)

            texts = distinct_texts(rng, count, "batch")
            started = time.perf_counter()
            post_batches(client, texts)
            batch_s = time.perf_counter() - started
            print(f"batches of {BATCH}: {count} acknowledged in {batch_s:.2f}s", flush=True)
            wait_drained(client)

            texts = distinct_texts(rng, count, "end-to-end")
            started = time.perf_counter()
            ids = post_batches(client, texts)
            wait_completed(client, ids)
            e2e_s = time.perf_counter() - started
            print(f"end to end: {count} completed (embedded and enriched) in {e2e_s:.2f}s", flush=True)

            raw_s = raw_model_seconds(texts)
            print(f"raw model: {count} encoded in {raw_s:.2f}s", flush=True)
    return {
        "memories": count,
        "single_c8_per_s": round(count / single_s, 1),
        "batch_per_s": round(count / batch_s, 1),
        "batch_vs_single": round(single_s / batch_s, 1),
        "end_to_end_per_s": round(count / e2e_s, 1),
        "raw_model_per_s": round(count / raw_s, 1),
        "end_to_end_vs_raw_model": round(raw_s / e2e_s, 2),
    }


def raw_model_seconds(texts: list[str]) -> float:
    from loci.embedding.local import _load, model_path

    model = _load(str(model_path(None)))
    model.encode(texts[:200], batch_size=64)  # warm-up
    started = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    return time.perf_counter() - started


def _serve_stub(port_queue: Any, latency: float) -> None:
    from tests.openai_server import OpenAIServer, OpenAIStub

    with OpenAIServer(OpenAIStub(latency=latency)) as server:
        port_queue.put(server.base_url)
        while True:
            time.sleep(3600)


def remote_embedding_seconds(
    base_url: str, count: int, concurrency: int, batch_size: int
) -> tuple[float, dict[str, Any]]:
    """Seconds for the embedding worker to embed `count` memories; the provider's call figures."""
    from loci.config import EmbeddingProviderName, LogFormat, Settings
    from loci.factory import create_app
    from loci.schemas import StoreMemory

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            log_level="WARNING",
            log_format=LogFormat.TEXT,
            embedding_provider=EmbeddingProviderName.OPENAI,
            openai_base_url=base_url,
            embedding_model="stub-embedder",
            vector_size=384,
            embedding_batch_size=batch_size,
            embedding_batch_timeout_seconds=0,
            embedding_concurrency=concurrency,
        )
        svc = create_app(settings, start_workers=False).extensions["loci"]
        try:
            rng = random.Random(SEED)
            texts = distinct_texts(rng, count, f"remote c={concurrency}")
            for start in range(0, count, BATCH):
                svc.writer.store_many([StoreMemory(content=t) for t in texts[start : start + BATCH]])
            started = time.perf_counter()
            svc.embedding_worker.start()
            while svc.embedding_worker.stats.processed < count:
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
            svc.embedding_worker.stop()
            calls = svc.provider.report()
        finally:
            svc.close()
    return elapsed, calls


def remote_concurrency(count: int, batch_size: int, latency: float) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    port_queue = context.Queue()
    stub = context.Process(target=_serve_stub, args=(port_queue, latency), daemon=True)
    stub.start()
    try:
        base_url = port_queue.get(timeout=60)
        one, calls_one = remote_embedding_seconds(base_url, count, 1, batch_size)
        print(f"remote, {latency * 1000:.0f} ms latency, concurrency 1: {count} embedded in {one:.2f}s", flush=True)
        print(f"  provider calls: {calls_one}", flush=True)
        ten, calls_ten = remote_embedding_seconds(base_url, count, 10, batch_size)
        print(f"remote, {latency * 1000:.0f} ms latency, concurrency 10: {count} embedded in {ten:.2f}s", flush=True)
        print(f"  provider calls: {calls_ten}", flush=True)
    finally:
        stub.terminate()
        stub.join()
    return {
        "memories": count,
        "batch_size": batch_size,
        "latency_ms": latency * 1000,
        "c1_s": round(one, 2),
        "c10_s": round(ten, 2),
        "speed_up": round(one / ten, 1),
        "provider_calls_c1": calls_one,
        "provider_calls_c10": calls_ten,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memories", type=int, default=5000)
    parser.add_argument("--remote", type=int, default=2000)
    parser.add_argument("--remote-batch", type=int, default=16, help="embedding batch size for the remote test")
    parser.add_argument("--skip-http", action="store_true", help="only the remote-provider part")
    parser.add_argument("--out", type=Path, default=Path("bench-results/ingest.json"))
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}}
    if not args.skip_http:
        results["ingest"] = acknowledgement_and_end_to_end(args.memories, random.Random(SEED))
    results["remote"] = remote_concurrency(args.remote, args.remote_batch, latency=0.05)

    print()
    if "ingest" in results:
        ingest = results["ingest"]
        print(f"{'measure':<52}{'value':>12}{'goal':>14}")
        print(f"{'single POST /memory, c=8 (memories/s)':<52}{ingest['single_c8_per_s']:>12}{'-':>14}")
        print(f"{'POST /memory/batch of 500 (memories/s)':<52}{ingest['batch_per_s']:>12}{'>= 10000':>14}")
        print(f"{'batch vs single':<52}{ingest['batch_vs_single']:>11}x{'>= 20x':>14}")
        print(f"{'end to end, completed (memories/s)':<52}{ingest['end_to_end_per_s']:>12}{'-':>14}")
        print(f"{'raw model encoding (memories/s)':<52}{ingest['raw_model_per_s']:>12}{'-':>14}")
        print(f"{'end to end vs raw model':<52}{ingest['end_to_end_vs_raw_model']:>12}{'>= 0.8':>14}")
    remote = results["remote"]
    print(f"{'remote 50 ms, concurrency 1 (s)':<52}{remote['c1_s']:>12}{'-':>14}")
    print(f"{'remote 50 ms, concurrency 10 (s)':<52}{remote['c10_s']:>12}{'-':>14}")
    print(f"{'remote speed-up, 10 vs 1':<52}{remote['speed_up']:>11}x{'>= 9x':>14}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
