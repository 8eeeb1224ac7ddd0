"""A stalled FalkorDB (SIGSTOP): /health still answers within a second, requests get one status
(503 with Retry-After) after the graph deadline, and everything recovers when it resumes.

Before, requests and /health blocked for up to 20 s (two 10 s socket timeouts back to back),
and the same stall was a 503 on one path and a 504 on another.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_process import ServiceProcess

from loci.stores.falkordb_server import FalkorDBServer
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

GRAPH_DEADLINE = 2.0


@pytest.fixture
def stalled_setup(tmp_path: Path) -> Iterator[tuple[FalkorDBServer, ServiceProcess]]:
    server = FalkorDBServer(tmp_path / "falkordb", supervise=False).start()
    env = {
        "FALKORDB_HOST": server.host,
        "FALKORDB_PORT": str(server.port),
        "EMBEDDING_PROVIDER": "placeholder",
        "VECTOR_SIZE": "8",
        "LOCI_GRAPH_TIMEOUT_SECONDS": str(GRAPH_DEADLINE),
    }
    service = ServiceProcess(tmp_path / "data", tmp_path / "service.log", env).start()
    pid = server.pid
    assert pid is not None
    try:
        yield server, service
    finally:
        os.kill(pid, signal.SIGCONT)
        service.stop()
        server.stop()


def timed(call: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()  # type: ignore[operator]
    return response, time.monotonic() - started


def test_a_stalled_graph_is_one_status_and_health_stays_quick(
    stalled_setup: tuple[FalkorDBServer, ServiceProcess],
) -> None:
    server, service = stalled_setup
    pid = server.pid
    assert pid is not None
    with httpx.Client(base_url=service.base_url, timeout=30) as client:
        kept = client.post("/memory", json={"content": "stored before the stall"}).json()["memory_id"]
        os.kill(pid, signal.SIGSTOP)

        for _ in range(3):
            health, took = timed(lambda: client.get("/health"))
            assert health.status_code == 503 and took < 3.0, took  # 0.8 s deadline; generous for a shared machine
            assert health.json()["falkordb"] == "disconnected" and health.json()["errors"]["falkordb"]
            assert int(health.headers["retry-after"]) >= 1

        for call in (
            lambda: client.post("/memory", json={"content": "during the stall"}),
            lambda: client.get(f"/memory/{kept}"),
            lambda: client.get("/recall", params={"query": "stall"}),
        ):
            answer, took = timed(call)
            assert answer.status_code == 503, answer.text
            assert answer.json()["code"] == 503 and int(answer.headers["retry-after"]) >= 1
            assert took < GRAPH_DEADLINE * 2 + 3, took  # one deadline per graph call, no retries piled on

        os.kill(pid, signal.SIGCONT)
        healthy = lambda: client.get("/health").status_code == 200  # noqa: E731
        wait_until(healthy, 30, what="recovery after SIGCONT", every=0.2)
        assert client.get(f"/memory/{kept}").json()["memory"]["content"] == "stored before the stall"
        assert client.post("/memory", json={"content": "after the stall"}).status_code == 201
    log = service.log_tail(1_000_000)  # the outage is one line each way, not one per request that met it
    assert log.count('"event": "falkordb.unreachable"') == 1 and log.count('"event": "falkordb.reachable"') == 1
