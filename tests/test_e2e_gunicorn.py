"""End to end: the real service under gunicorn, embedded FalkorDB and Qdrant, the local model.

Stores memories over HTTP, waits until they are searchable, recalls by meaning; then
restarts the process while a memory is still pending (its provider failing) and sees it
completed by the next process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from loci.stores.falkordb_server import free_port
from tests.openai_server import Fault, OpenAIServer

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"

pytestmark = pytest.mark.slow


@contextmanager
def service(data_dir: Path, log_path: Path, **env: str) -> Iterator[httpx.Client]:
    """gunicorn serving app:app on a free port; yields a client once /health answers."""
    port = free_port()
    environ = {**os.environ, "PORT": str(port), "LOCI_DATA_DIR": str(data_dir), "LOCI_LOG_FORMAT": "json", **env}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", "gunicorn.conf.py", "app:app"], cwd=ROOT, env=environ, stdout=log, stderr=log
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"service did not become healthy:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield client
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(predicate: Any, timeout: float = 60.0, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(every)


def embedding_status(client: httpx.Client, memory_id: str) -> str:
    return str(client.get(f"/memory/{memory_id}").json()["memory"]["embedding_status"])


def test_store_search_restart(tmp_path: Path) -> None:
    data_dir, log_path = tmp_path / "data", tmp_path / "service.log"
    facts = [
        "The billing service keeps its invoices in PostgreSQL.",
        "Priya runs along the river every morning before work.",
        "The office cat Miso knocks glasses off tables.",
        "Releases go to production on Tuesdays after standup.",
    ]
    with service(data_dir, log_path) as client:
        health = client.get("/health").json()
        assert health["status"] == "healthy"
        assert health["graph_server"] == "embedded" and health["vector_store"] == "embedded"
        assert health["embedding"]["provider"] == "local" and health["embedding"]["status"] == "running"
        ids = [client.post("/memory", json={"content": text}).json()["memory_id"] for text in facts]
        wait_until(lambda: all(embedding_status(client, i) == "completed" for i in ids))
        body = client.get("/recall", params={"query": "Which database holds our invoices?"}).json()
        assert body["results"][0]["id"] == ids[0]

    with OpenAIServer() as provider:
        provider.stub.fail_always = Fault(503)
        failing = {
            "EMBEDDING_PROVIDER": "openai",
            "OPENAI_BASE_URL": provider.base_url,
            "EMBEDDING_MODEL": "stub-embedder",
            "VECTOR_SIZE": "384",
        }
        with service(data_dir, log_path, **failing) as client:
            pending_id = client.post("/memory", json={"content": "The on-call rotation changes every Monday."}).json()[
                "memory_id"
            ]
            wait_until(lambda: bool(provider.stub.requests))  # the worker tried, and the provider refused
            assert embedding_status(client, pending_id) == "pending"

    with service(data_dir, log_path) as client:
        wait_until(lambda: embedding_status(client, pending_id) == "completed")
        body = client.get("/recall", params={"query": "When does the on-call rotation change?"}).json()
        assert body["results"][0]["id"] == pending_id
        assert client.get("/health").json()["memory_count"] == len(facts) + 1
