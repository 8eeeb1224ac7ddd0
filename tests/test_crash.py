"""Crash safety: SIGKILL the service while 1,000 memories wait for embedding and enrichment.

The first process embeds through a deliberately slow OpenAI-compatible server, so the
memories are still waiting when the whole process group (gunicorn, its worker and the
FalkorDB child) is killed. The next process must finish every one of them.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_process import ServiceProcess

from tests.openai_server import OpenAIServer

pytestmark = pytest.mark.slow

COUNT = 1000


def health(client: httpx.Client) -> dict[str, Any]:
    return client.get("/health").json()  # type: ignore[no-any-return]


def test_sigkill_loses_nothing(tmp_path: Path) -> None:
    data_dir, log_path = tmp_path / "data", tmp_path / "service.log"
    rng = random.Random(5)
    names = ["Priya Raman", "Omar Haddad", "Lena Vogel", "Tomas Berg"]
    texts = [f"Note {n}: met with {rng.choice(names)} about release {n % 40}." for n in range(COUNT)]
    with OpenAIServer() as slow:
        slow.stub.latency = 30  # every embedding request hangs far longer than the test waits
        env = {
            "EMBEDDING_PROVIDER": "openai",
            "OPENAI_BASE_URL": slow.base_url,
            "EMBEDDING_MODEL": "stub-embedder",
            "VECTOR_SIZE": "384",
            "EMBEDDING_TIMEOUT_SECONDS": "60",
        }
        service = ServiceProcess(data_dir, log_path, env).start()
        try:
            with httpx.Client(base_url=service.base_url, timeout=30) as client:

                def post(text: str) -> str:
                    return str(client.post("/memory", json={"content": text}).json()["memory_id"])

                with ThreadPoolExecutor(8) as pool:
                    ids = list(pool.map(post, texts))
                before = health(client)
        finally:
            service.kill()  # SIGKILL, mid-work
    assert len(set(ids)) == COUNT
    assert before["embedding"]["memories"]["pending"] == COUNT  # none embedded: all waiting
    assert before["enrichment"]["memories"]["pending"] > 0  # enrichment was under way too

    with ServiceProcess(data_dir, log_path) as service, httpx.Client(base_url=service.base_url, timeout=30) as client:
        deadline = time.monotonic() + 300
        while True:
            body = health(client)
            embedded, enriched = body["embedding"]["memories"], body["enrichment"]["memories"]
            if embedded["completed"] == COUNT and enriched["completed"] == COUNT:
                break
            assert embedded["failed"] == enriched["failed"] == 0
            assert time.monotonic() < deadline, f"not finished: {embedded} {enriched}"
            time.sleep(0.5)
        assert body["memory_count"] == COUNT and body["vector_count"] == COUNT
        for memory_id in rng.sample(ids, 20):
            memory = client.get(f"/memory/{memory_id}").json()["memory"]
            assert any(tag.startswith("entity:people:") for tag in memory["tags"])
        found = client.get("/recall", params={"query": texts[123], "limit": 3}).json()
        assert found["results"][0]["id"] == ids[123]
