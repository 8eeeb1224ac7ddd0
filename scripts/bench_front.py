"""What the buffering front costs and what it buys: Loci's worker against plain gthread, one run.

For each worker class (gunicorn's `gthread`, as before, and `loci.serving.worker.LociWorker`)
the service is started under gunicorn with the placeholder provider (no model competes for
the CPU) and measured on:
- stores: STORES `POST /memory` at concurrency 8 (requests/s, p50 ms);
- /health while SLOW_CLIENTS connections send their headers one byte every half second:
  latency of PROBES sequential requests (p50, max) and how many got no answer within 5 s;
- /health while STREAMS event streams are open and as many slow connections again.
Prints JSON (CPU, versions, settings, figures, ratios). Not collected by pytest.

    .venv/bin/python scripts/bench_front.py

`--long-get` measures instead what a long request line costs through Loci's worker: p50 of
LONG_GET_REQUESTS sequential requests each for a ~30 KB `GET /recall` carrying a 1,536-wide
embedding, the same vector as a `POST /recall` body, a short `GET /recall?query=...`, and
`GET /health` with and without 30 KB of query string (the front and parsing alone).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from bench_api import machine
from service_process import ServiceProcess

STORES = 2000
CONCURRENCY = 8
SLOW_CLIENTS = 200
STREAMS = 8
PROBES = 10
PROBE_TIMEOUT = 5.0
ROUNDS = 2
"""Store-rate rounds per worker class, alternating between the two (the machine is shared: noise moves)."""
WORKERS = {"gthread": "gthread", "loci": "loci.serving.worker.LociWorker"}
LONG_GET_DIMENSION = 1536
LONG_GET_MEMORIES = 200
LONG_GET_REQUESTS = 50
LONG_GET_WARMUP = 5


def measure_stores(client: httpx.Client) -> dict[str, float]:
    def store(n: int) -> float:
        started = time.perf_counter()
        assert client.post("/memory", json={"content": f"front benchmark memory {n}"}).status_code == 201
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        latencies = list(pool.map(store, range(STORES)))
    return {
        "per_second": round(STORES / (time.perf_counter() - started), 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
    }


def probe_health(base_url: str) -> dict[str, Any]:
    took: list[float] = []
    failed = 0
    with httpx.Client(base_url=base_url, timeout=PROBE_TIMEOUT) as client:
        for _ in range(PROBES):
            started = time.perf_counter()
            try:
                client.get("/health").raise_for_status()
                took.append(time.perf_counter() - started)
            except httpx.HTTPError:
                failed += 1
    return {
        "answered": len(took),
        "no_answer_within_5s": failed,
        "p50_ms": round(statistics.median(took) * 1000, 1) if took else None,
        "max_ms": round(max(took) * 1000, 1) if took else None,
    }


def with_slow_clients(port: int, count: int, measure: Any) -> Any:
    stop = threading.Event()
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sockets.append(sock)

    def trickle() -> None:
        while not stop.wait(0.5):
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.sendall(b"x")

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        return measure()
    finally:
        stop.set()
        thread.join()
        for sock in sockets:
            sock.close()


def with_streams(port: int, measure: Any) -> Any:
    streams = []
    for _ in range(STREAMS):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        streams.append(sock)
    time.sleep(0.5)  # let the subscriptions start before measuring
    try:
        return with_slow_clients(port, STREAMS, measure)
    finally:
        for sock in streams:
            sock.close()


def run(worker_class: str, root: Path, *, faults: bool) -> dict[str, Any]:
    env = {"EMBEDDING_PROVIDER": "placeholder", "VECTOR_SIZE": "384", "STREAM_MAX_SUBSCRIBERS": str(STREAMS)}
    service = ServiceProcess(root / "data", root / "service.log", env)
    service.env["GUNICORN_CMD_ARGS"] += f" --worker-class {worker_class}"
    with service, httpx.Client(base_url=service.base_url, timeout=30) as client:
        result: dict[str, Any] = {"stores": measure_stores(client)}
        if faults:
            result["health_idle"] = probe_health(service.base_url)
            result["health_slow_clients"] = with_slow_clients(
                service.port, SLOW_CLIENTS, lambda: probe_health(service.base_url)
            )
            result["health_streams_and_slow"] = with_streams(service.port, lambda: probe_health(service.base_url))
    return result


def p50_ms(send: Any) -> float:
    for _ in range(LONG_GET_WARMUP):
        send()
    took = []
    for _ in range(LONG_GET_REQUESTS):
        started = time.perf_counter()
        send()
        took.append(time.perf_counter() - started)
    return round(statistics.median(took) * 1000, 2)


def long_get(root: Path) -> dict[str, Any]:
    """p50 of each request kind against one service (LociWorker, placeholder provider, 1,536 dimensions).
    Requests go over one kept-alive http.client connection: httpx spends ~10 ms validating a 27 KB URL
    on the client's side, which would hide what the server does."""
    rng = random.Random(7)
    env = {"EMBEDDING_PROVIDER": "placeholder", "VECTOR_SIZE": str(LONG_GET_DIMENSION)}
    with ServiceProcess(root / "data", root / "service.log", env) as service:
        connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)

        def send(method: str, path: str, body: Any = None) -> None:
            payload = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if payload is not None else {}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            assert response.status in (200, 201), answer[:200]

        vectors = [[rng.uniform(-1, 1) for _ in range(LONG_GET_DIMENSION)] for _ in range(LONG_GET_MEMORIES)]
        for n, vector in enumerate(vectors):
            send("POST", "/memory", {"content": f"long get memory {n}", "embedding": vector})
        target = vectors[0]
        long_path = "/recall?" + urlencode({"embedding": ",".join(f"{x:.12f}" for x in target), "limit": 5})
        pad_path = "/health?" + urlencode({"pad": "x" * (len(long_path) - len("/health?pad="))})
        figures = {
            "get_recall_30kb_embedding": p50_ms(lambda: send("GET", long_path)),
            "post_recall_embedding_body": p50_ms(lambda: send("POST", "/recall", {"embedding": target, "limit": 5})),
            "get_recall_short_query": p50_ms(
                lambda: send("GET", "/recall?" + urlencode({"query": "long get memory 1"}))
            ),
            "get_health_30kb_line": p50_ms(lambda: send("GET", pad_path)),
            "get_health_short": p50_ms(lambda: send("GET", "/health")),
        }
        connection.close()
    return {
        "request_line_bytes": {"recall": len(f"GET {long_path} HTTP/1.1"), "health": len(f"GET {pad_path} HTTP/1.1")},
        "p50_ms": figures,
    }


def main_long_get() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = long_get(Path(tmp))
    settings = {"dimension": LONG_GET_DIMENSION, "memories": LONG_GET_MEMORIES, "requests": LONG_GET_REQUESTS}
    report = {"machine": machine(), "versions": {"gunicorn": version("gunicorn"), "h11": version("h11")}}
    print(json.dumps({**report, "settings": settings, **result}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--long-get", action="store_true", help="what a 30 KB request line costs (one service)")
    if parser.parse_args().long_get:
        main_long_get()
        return
    results: dict[str, dict[str, Any]] = {name: {"store_rounds": []} for name in WORKERS}
    for round_no in range(ROUNDS):
        for name, worker_class in WORKERS.items():
            with tempfile.TemporaryDirectory() as tmp:
                outcome = run(worker_class, Path(tmp), faults=round_no == 0)
            results[name]["store_rounds"].append(outcome.pop("stores"))
            results[name].update(outcome)
    for result in results.values():
        result["stores_per_second_median"] = statistics.median(r["per_second"] for r in result["store_rounds"])
    report = {
        "machine": machine(),
        "versions": {"gunicorn": version("gunicorn"), "h11": version("h11")},
        "settings": {
            "rounds": ROUNDS,
            "stores": STORES,
            "concurrency": CONCURRENCY,
            "slow_clients": SLOW_CLIENTS,
            "streams": STREAMS,
        },
        "results": results,
        "store_rate_loci_over_gthread": round(
            results["loci"]["stores_per_second_median"] / results["gthread"]["stores_per_second_median"], 2
        ),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
