"""A store whose graph write timed out but landed is stored once on retry (issue 10, finding 7).

A FalkorDB server of the test's own is frozen with SIGSTOP the moment the store's
de-duplication claim appears, so the graph write that follows gets no answer within the
graph timeout (503) yet runs once the server is resumed. Or the frozen server is killed and
started again, so the write it had not run yet is lost with it and never lands. (`CLIENT
PAUSE WRITE` would be gentler, but this redis build fails an assertion under it now and then.)
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask

from loci.errors import Conflict
from loci.model import StageStatus
from loci.services import Services
from loci.stores.falkordb_server import FalkorDBServer
from loci.stores.graph import GraphStore
from loci.stores.idempotency import Lease, Replay, RequestLog, fingerprint
from tests.helpers import wait_until

TAG = "settle-test"
BATCH = 300
"""Large enough that building the graph write takes longer than freezing the server."""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FalkorDBServer]:
    own = FalkorDBServer(tmp_path / "falkordb", supervise=False).start()
    yield own
    own.stop()


@pytest.fixture
def app(server: FalkorDBServer, make_stub_app: Callable[..., Flask]) -> Flask:
    return make_stub_app(falkordb_host=server.host, falkordb_port=server.port, graph_timeout_seconds=0.3)


def items(prefix: str) -> list[dict[str, object]]:
    return [{"content": f"{prefix} memory {n}", "tags": [TAG]} for n in range(BATCH)]


def claim_key(svc: Services, content: str) -> str:
    return f"loci:{svc.settings.falkordb_graph}:dedup:{fingerprint(content, [TAG], None, None)}"


class Freezer:
    """Watches for a claim key from a connection of its own, then freezes the server."""

    def __init__(self, server: FalkorDBServer, key: str, *, lose_the_write: bool = False) -> None:
        self.server = server
        self.admin = redis.Redis(host=server.host, port=server.port, socket_timeout=5)
        self.pid = int(self.admin.info("server")["process_id"])
        self.key, self.lose_the_write = key, lose_the_write
        self.fired = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.admin.exists(self.key):
                os.kill(self.pid, signal.SIGSTOP)
                self.fired.set()
                return

    def resume(self) -> None:
        self._thread.join(10)
        self.admin.close()
        if not self.lose_the_write:
            os.kill(self.pid, signal.SIGCONT)
            return
        os.kill(self.pid, signal.SIGKILL)  # the write it had received but not run dies with it
        wait_until(lambda: not self.server.running, 10, what="the killed server")
        self.server.start()  # same port and data: what it had answered (the claim) is back


def test_a_retry_of_a_store_that_timed_out_but_landed_returns_the_originals(app: Flask, server: FalkorDBServer) -> None:
    svc: Services = app.extensions["loci"]
    client = app.test_client()
    body, headers = {"memories": items("landed")}, {"Idempotency-Key": "batch-1"}
    freezer = Freezer(server, claim_key(svc, "landed memory 0"))
    try:
        first = client.post("/memory/batch", json=body, headers=headers)  # its key's release fails too
    finally:
        resume_at = time.monotonic()
        freezer.resume()
    assert freezer.fired.is_set() and first.status_code == 503, first.json
    landed = lambda: len(svc.graph.memories.by_tag([TAG], 2 * BATCH, 0)) == BATCH  # noqa: E731
    wait_until(landed, 10, what="the write to land after its timeout")
    originals = {m.id for m in svc.graph.memories.by_tag([TAG], 2 * BATCH, 0)}

    svc.settler.start()  # as the service runs it: the key is freed and the originals queued, no sync
    wait_until(lambda: svc.settler.unsettled == 0, 10, what="settled")
    retry = client.post("/memory/batch", json=body, headers=headers)
    assert retry.status_code == 201, retry.json  # not 409: the failed request's key was freed
    assert time.monotonic() - resume_at < 30  # by the settler, before the in-progress marker lapsed
    assert set(retry.json["memory_ids"]) == originals
    assert retry.json["deduplicated"] == list(range(BATCH)) and retry.json["stored"] == 0
    assert len(svc.graph.memories.by_tag([TAG], 2 * BATCH, 0)) == BATCH  # stored once

    assert svc.embedding_queue.stats().pending == BATCH and svc.enrichment_queue.stats().pending == BATCH
    svc.embedding_worker.drain()
    svc.enrichment_worker.drain()
    svc.embedding_worker.drain()
    states = svc.graph.memories.get_many(sorted(originals))
    assert all(m.embedding_status is StageStatus.COMPLETED for m in states.values())
    assert all(m.enrichment_status is StageStatus.COMPLETED for m in states.values())
    assert svc.vectors.count() == BATCH


def test_a_retry_of_a_store_that_did_not_land_stores_it_once(app: Flask, server: FalkorDBServer) -> None:
    svc: Services = app.extensions["loci"]
    client = app.test_client()
    body = {"memories": items("lost")}
    freezer = Freezer(server, claim_key(svc, "lost memory 0"), lose_the_write=True)
    try:
        first = client.post("/memory/batch", json=body)
    finally:
        freezer.resume()
    assert freezer.fired.is_set() and first.status_code == 503, first.json
    wait_until(lambda: client.get("/health").status_code == 200, 10, what="health")
    assert svc.graph.memories.by_tag([TAG], 2 * BATCH, 0) == []  # lost with the server that had it
    assert svc.settler.unsettled == BATCH  # its claims are kept until settled

    retry = client.post("/memory/batch", json=body)
    if retry.status_code == 503:  # within the grace period the first attempt may still land: come back later
        time.sleep(float(retry.headers["Retry-After"]))
        retry = client.post("/memory/batch", json=body)
    assert retry.status_code == 201 and retry.json["stored"] == BATCH and retry.json["deduplicated"] == []
    assert svc.settler.unsettled == 0  # the retry settled the originals: not landed, claims taken over
    again = client.post("/memory/batch", json=body)
    assert again.json["deduplicated"] == list(range(BATCH)) and again.json["memory_ids"] == retry.json["memory_ids"]
    assert len(svc.graph.memories.by_tag([TAG], 2 * BATCH, 0)) == BATCH


def test_the_settler_releases_claims_of_writes_that_did_not_land(app: Flask, server: FalkorDBServer) -> None:
    svc: Services = app.extensions["loci"]
    client = app.test_client()
    key = claim_key(svc, "gone memory 0")
    freezer = Freezer(server, key, lose_the_write=True)
    try:
        first = client.post("/memory/batch", json={"memories": items("gone")})
    finally:
        freezer.resume()
    assert first.status_code == 503
    assert svc.graph.redis.exists(key)  # kept while the outcome is unknown
    wait_until(lambda: _settled(svc), 10, what="settled")
    assert not svc.graph.redis.exists(key)  # not landed: released
    assert svc.embedding_queue.stats().pending == 0


def _settled(svc: Services) -> bool:
    try:
        svc.settler.settle()
    except Exception:  # the restarted server may still be loading: poll again
        return False
    return svc.settler.unsettled == 0


def test_a_request_that_outlived_its_lease_does_not_overwrite_the_next_ones_key(graph: GraphStore) -> None:
    log = RequestLog(graph.redis, graph.graph_name, window=60)
    first = log.begin("key-1", "hash")
    assert isinstance(first, Lease)
    graph.redis.delete(first.name)  # its in-progress lease lapsed (a very slow request)
    second = log.begin("key-1", "hash")
    assert isinstance(second, Lease)
    log.finish(first, "hash", 201, {"memory_id": "from-the-first"})  # the slow one ends after all
    with pytest.raises(Conflict):  # the key is still the second request's, in progress
        log.begin("key-1", "hash")
    log.finish(second, "hash", 201, {"memory_id": "from-the-second"})
    replay = log.begin("key-1", "hash")
    assert isinstance(replay, Replay) and replay.body == {"memory_id": "from-the-second"}
