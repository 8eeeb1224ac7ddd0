"""End to end: the real service under gunicorn, embedded FalkorDB and Qdrant, the local model.

Stores memories over HTTP, waits until they are searchable, recalls by meaning; then
restarts the process while a memory is still pending (its provider failing) and sees it
completed by the next process.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from service_process import ServiceProcess

from tests.helpers import wait_until
from tests.openai_server import Fault, OpenAIServer

pytestmark = pytest.mark.slow


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
    with ServiceProcess(data_dir, log_path) as svc, httpx.Client(base_url=svc.base_url, timeout=10) as client:
        health = client.get("/health").json()
        assert health["status"] == "healthy"
        assert health["graph_server"] == "embedded" and health["vector_store"] == "embedded"
        assert health["embedding"]["provider"] == "local" and health["embedding"]["status"] == "running"
        ids = [client.post("/memory", json={"content": text}).json()["memory_id"] for text in facts]
        wait_until(lambda: all(embedding_status(client, i) == "completed" for i in ids), 60, what="every embedding")
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
        with (
            ServiceProcess(data_dir, log_path, failing) as svc,
            httpx.Client(base_url=svc.base_url, timeout=10) as client,
        ):
            body = client.post("/memory", json={"content": "The on-call rotation changes every Monday."}).json()
            pending_id = body["memory_id"]
            # the worker tried, and the provider refused
            wait_until(lambda: bool(provider.stub.requests), 60, what="a provider call")
            assert embedding_status(client, pending_id) == "pending"

    with ServiceProcess(data_dir, log_path) as svc, httpx.Client(base_url=svc.base_url, timeout=10) as client:
        wait_until(lambda: embedding_status(client, pending_id) == "completed", 60, what="the embedding")
        body = client.get("/recall", params={"query": "When does the on-call rotation change?"}).json()
        assert body["results"][0]["id"] == pending_id
        assert client.get("/health").json()["memory_count"] == len(facts) + 1
