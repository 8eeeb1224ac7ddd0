"""How long clients wait while FalkorDB is stalled (SIGSTOP): /health and stores, one run.

The service runs under gunicorn against a FalkorDB server of the script's own (so it can be
frozen), with the placeholder provider and the default LOCI_GRAPH_TIMEOUT_SECONDS. While the
server is stopped: PROBES sequential /health requests (status, p50 and max latency) and
STORES stores (status, seconds, Retry-After). Prints JSON. Not collected by pytest.

    .venv/bin/python scripts/bench_stall.py
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from bench_api import machine
from service_process import ServiceProcess

from loci.stores.falkordb_server import FalkorDBServer

PROBES = 10
STORES = 3


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = FalkorDBServer(root / "falkordb", supervise=False).start()
        env = {
            "FALKORDB_HOST": server.host,
            "FALKORDB_PORT": str(server.port),
            "EMBEDDING_PROVIDER": "placeholder",
            "VECTOR_SIZE": "8",
        }
        pid = server.pid
        assert pid is not None
        try:
            with (
                ServiceProcess(root / "data", root / "service.log", env) as service,
                httpx.Client(base_url=service.base_url, timeout=30) as client,
            ):
                client.post("/memory", json={"content": "stored before the stall"}).raise_for_status()
                os.kill(pid, signal.SIGSTOP)
                try:
                    health = []
                    for _ in range(PROBES):
                        started = time.monotonic()
                        status = client.get("/health").status_code
                        health.append((status, time.monotonic() - started))
                    stores = []
                    for n in range(STORES):
                        started = time.monotonic()
                        answer = client.post("/memory", json={"content": f"during the stall {n}"})
                        took = round(time.monotonic() - started, 2)
                        stores.append(
                            {
                                "status": answer.status_code,
                                "seconds": took,
                                "retry_after": answer.headers.get("retry-after"),
                            }
                        )
                finally:
                    os.kill(pid, signal.SIGCONT)
        finally:
            server.stop()
    seconds = [took for _, took in health]
    report = {
        "machine": machine(),
        "health_while_stalled": {
            "statuses": sorted({status for status, _ in health}),
            "p50_ms": round(statistics.median(seconds) * 1000, 1),
            "max_ms": round(max(seconds) * 1000, 1),
        },
        "stores_while_stalled": stores,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
