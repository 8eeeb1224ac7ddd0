"""After the pipeline drains, every vector payload matches its memory in the graph (issue 10, finding 11).

Enrichment rewrites summary, tags and metadata while the embedding worker, several threads
with group commit over a remote provider, writes vectors; the graph server is frozen now and
then (SIGSTOP) so group writes time out and are retried. Deterministic checks of the cause (one
owner per in-flight id) are in tests/test_queue.py.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask

from loci.errors import LociError
from loci.model import Stage, StageStatus
from loci.services import Services
from loci.stores.falkordb_server import FalkorDBServer
from tests.helpers import wait_until
from tests.openai_server import OpenAIServer

MEMORIES = 300
PER_REQUEST = 10
STALL_SECONDS = 0.1


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FalkorDBServer]:
    own = FalkorDBServer(tmp_path / "falkordb", supervise=False).start()
    yield own
    own.stop()


def freeze_now_and_then(server: FalkorDBServer, stop: threading.Event) -> int:
    """SIGSTOP the server for STALL_SECONDS at random moments until `stop`; returns how many times."""
    admin = redis.Redis(host=server.host, port=server.port, socket_timeout=5)
    pid = int(admin.info("server")["process_id"])
    admin.close()
    rng, stalls = random.Random(7), 0
    while not stop.wait(rng.uniform(0.1, 0.4)) and stalls < 50:
        os.kill(pid, signal.SIGSTOP)
        time.sleep(STALL_SECONDS)  # the fault itself: the server frozen for this long
        os.kill(pid, signal.SIGCONT)
        stalls += 1
    return stalls


def drained(svc: Services) -> bool:
    queues_idle = all(q.is_idle(include_delayed=True) for q in (svc.embedding_queue, svc.enrichment_queue))
    try:
        counts = svc.graph.memories.stage_counts()
    except LociError:  # frozen at this moment: look again
        return False
    return queues_idle and all(counts[stage].get(StageStatus.PENDING.value, 0) == 0 for stage in Stage)


def test_every_payload_matches_the_graph_after_the_race(
    server: FalkorDBServer, make_stub_app: Callable[..., Flask], openai_server: OpenAIServer
) -> None:
    openai_server.stub.latency = 0.03
    app = make_stub_app(
        falkordb_host=server.host,
        falkordb_port=server.port,
        graph_timeout_seconds=0.05,
        embedding_concurrency=4,
        embedding_batch_size=4,
        enrichment_batch_size=4,
        embedding_max_attempts=100,
        enrichment_retry_base_seconds=0.02,
        enrichment_retry_max_seconds=0.1,
        enrichment_max_attempts=100,
    )
    svc: Services = app.extensions["loci"]
    client = app.test_client()
    svc.embedding_worker.start()
    svc.enrichment_worker.start()
    stop, result = threading.Event(), []
    chaos = threading.Thread(target=lambda: result.append(freeze_now_and_then(server, stop)))
    chaos.start()
    ids: list[str] = []
    try:
        for start in range(0, MEMORIES, PER_REQUEST):
            batch = [
                {"content": f"Alice met Bob in Paris about project {n}. Then a second sentence {n}.", "tags": ["race"]}
                for n in range(start, start + PER_REQUEST)
            ]
            deadline = time.monotonic() + 30
            while True:  # a store that meets a frozen graph is retried, as a client would
                response = client.post("/memory/batch", json={"memories": batch})
                if response.status_code == 201:
                    ids += response.json["memory_ids"]
                    break
                assert response.status_code == 503 and time.monotonic() < deadline, response.json
        # the freezes go on while the pipeline works
        wait_until(lambda: drained(svc), 120, what="the pipeline to drain", every=0.2)
    finally:
        stop.set()
        chaos.join(30)
    wait_until(lambda: drained(svc), 120, what="the pipeline to drain", every=0.2)
    svc.embedding_worker.stop()
    svc.enrichment_worker.stop()

    assert result and result[0] > 0 and len(set(ids)) == MEMORIES
    memories = svc.graph.memories.get_many(ids)
    points = {point.id: point.payload for point in svc.vectors.retrieve(ids)}
    assert set(points) == set(ids)
    stale = [i for i in ids if any(points[i].get(k) != memories[i].payload()[k] for k in ("summary", "tags"))]
    assert stale == []
    assert all(memories[i].summary for i in ids)  # enriched, and the payload says so
    report = svc.sync.run(dry_run=True)
    assert report["stale_payload_count"] == 0 and report["missing_count"] == 0
