"""A full disk: writes refused with 507 and never acknowledged, reads kept, nothing lost, no restart needed.

Each test makes a small filesystem of its own (tmpfs, or an ext4 image on a loop device) and
skips when this machine does not allow mounting. Tests that start processes stop them before
the filesystem is unmounted, in `finally`.

- the guard (loci/diskspace.py) against a real filesystem: refuses below the reserve, logs
  once per change of state;
- the pipeline workers and the access recorder below the reserve: nothing taken from the
  queues, no attempt used, all done once space is back;
- FalkorDB with no reserve (the second line of defence): the write the full disk refused is
  an error, never acknowledged, and every acknowledged one survives kill -9 once space is back;
- the service under gunicorn: batches until the reserve is reached, then a disk filled to the
  last byte by another file: 507 with the envelope for every write, reads answered, the worker
  process never dies (the SIGBUS of embedded Qdrant's mmapped files), writes resume once the
  file is removed without a restart, and every memory answered 201 is there after kill -9.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from flask import Flask
from service_process import ServiceProcess

from loci.config import AppendFsync
from loci.diskspace import DiskGuard, free_bytes
from loci.errors import GraphUnavailable, InsufficientStorage, LociError
from loci.model import Memory, Stage
from loci.services import Services
from loci.stores.falkordb_server import FalkorDBServer
from loci.stores.graph import GraphStore
from loci.stores.idempotency import RequestLog
from loci.timeutil import iso, utcnow
from tests.filesystems import MiB, fill, small_filesystem
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

RESERVE = 16 * MiB
"""LOCI_MIN_FREE_BYTES for the service test: a quarter of its 64 MiB filesystem."""
HEADROOM = 2 * MiB
"""Free space above the reserve when the service test starts storing batches."""
BATCH = 20


# --- the guard


def test_guard_refuses_below_reserve_and_logs_each_change_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small_filesystem(tmp_path / "fs", 8, "tmpfs") as fs:
        guard = DiskGuard([fs / "falkordb", fs / "qdrant"], min_free_bytes=2 * MiB)  # not made yet: fs checked
        assert guard.writable()
        caplog.set_level(logging.INFO, logger="loci.diskspace")
        fill(fs / "filler", leave=MiB)
        for _ in range(100):
            assert not guard.writable()
        with pytest.raises(InsufficientStorage) as refused:
            guard.require_room()
        assert refused.value.status == 507 and "LOCI_MIN_FREE_BYTES" in refused.value.message
        assert guard.state().report()["writes"] == "refused"
        (fs / "filler").unlink()
        for _ in range(100):
            assert guard.writable()
        events = [record.event for record in caplog.records if hasattr(record, "event")]  # type: ignore[attr-defined]
        assert events == ["disk.low", "disk.ok"]


def test_guard_with_no_reserve_or_no_local_store_never_refuses(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "fs", 4, "tmpfs") as fs:
        fill(fs / "filler")
        assert DiskGuard([fs], min_free_bytes=0).writable()
        assert DiskGuard([], min_free_bytes=RESERVE).state().report()["free_bytes"] is None


# --- the background writers


def test_workers_and_access_recorder_pause_below_the_reserve(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "fs", 64, "ext4") as fs:
        app = make_app(data_dir=fs / "data", min_free_bytes=8 * MiB, embedding_provider="placeholder")
        svc: Services = app.extensions["loci"]
        try:
            stored = app.test_client().post("/memory/batch", json={"memories": [{"content": "a"}, {"content": "b"}]})
            ids = stored.get_json()["memory_ids"]
            svc.access.record(ids)
            fill(fs / "filler", leave=4 * MiB)

            assert svc.embedding_worker.run_once() == 0 and svc.enrichment_worker.run_once() == 0
            assert svc.access.flush() == 0
            assert svc.embedding_queue.stats().pending == len(ids)  # still queued
            assert svc.enrichment_queue.stats().pending == len(ids)
            for stage in (Stage.EMBEDDING, Stage.ENRICHMENT):
                assert not any(svc.graph.pipeline.stage_attempts(stage, ids).values())  # no attempt used

            (fs / "filler").unlink()
            svc.enrichment_worker.drain()
            svc.embedding_worker.drain()
            assert svc.access.flush() == len(ids)
            assert svc.writer.pipeline_status(ids)["counts"]["completed"] == len(ids)
        finally:
            svc.close()  # before the filesystem goes


# --- FalkorDB on a full disk, no reserve


def new_memory(content: str) -> Memory:
    now = iso(utcnow())
    return Memory(
        id=str(uuid.uuid4()),
        content=content,
        type="Context",
        confidence=0.9,
        importance=0.5,
        timestamp=now,
        updated_at=now,
        last_accessed=now,
        t_valid=now,
    )


@pytest.mark.parametrize(
    ("appendfsync", "refusal"),
    [
        (AppendFsync.EVERYSEC, InsufficientStorage),  # redis refuses writes with MISCONF while the disk is full
        (AppendFsync.ALWAYS, GraphUnavailable),  # redis exits on the failed write; the supervisor restarts it
    ],
)
def test_write_refused_by_full_disk_is_never_acknowledged(
    tmp_path: Path, appendfsync: AppendFsync, refusal: type[LociError]
) -> None:
    with small_filesystem(tmp_path / "fs", 8, "tmpfs") as fs:
        server = FalkorDBServer(fs / "falkordb", appendfsync=appendfsync).start()
        graph = GraphStore(server.host, server.port, "disk_full")
        try:
            graph.ensure_schema()
            fill(fs / "filler", leave=256 * 1024)
            acknowledged: list[str] = []
            refused: list[str] = []
            deadline = time.monotonic() + 60
            while not refused and time.monotonic() < deadline:
                memory = new_memory(f"note {len(acknowledged)}: " + "disk " * 400)
                try:
                    graph.memories.create([memory])
                    acknowledged.append(memory.id)
                except refusal:
                    refused.append(memory.id)
            assert refused, "the disk never refused a write"
            if appendfsync is AppendFsync.EVERYSEC:  # still up: the idempotency keys are refused the same way
                with pytest.raises(InsufficientStorage):
                    RequestLog(graph.redis, "disk_full", 60).begin("key", "hash")

            (fs / "filler").unlink()
            wait_until(lambda: _stores(graph, new_memory("space is back")), timeout=90)
            restarts = server.restarts
            pid = server.pid
            assert pid is not None
            os.kill(pid, 9)  # a crash: only what reached the disk comes back
            wait_until(lambda: server.restarts > restarts and _answers(graph), timeout=90)
            present = graph.memories.existing_ids(acknowledged + refused)
            assert present == set(acknowledged)  # every acknowledged write kept, the refused one never applied
        finally:
            graph.close()
            server.stop()


def test_memory_limit_refusal_is_insufficient_storage(tmp_path: Path) -> None:
    server = FalkorDBServer(tmp_path / "falkordb").start()
    graph = GraphStore(server.host, server.port, "oom")
    try:
        graph.ensure_schema()
        graph.redis.config_set("maxmemory", "1mb")  # below what the server already uses: every write is refused
        graph.redis.config_set("maxmemory-policy", "noeviction")
        memory = new_memory("over the memory limit")
        with pytest.raises(InsufficientStorage, match="memory limit"):
            graph.memories.create([memory])
        graph.redis.config_set("maxmemory", "0")
        assert graph.memories.existing_ids([memory.id]) == set()
    finally:
        graph.close()
        server.stop()


def _stores(graph: GraphStore, memory: Memory) -> bool:
    try:
        graph.memories.create([memory])
    except LociError:
        return False
    return True


def _answers(graph: GraphStore) -> bool:
    try:
        graph.ping()
        graph.memories.count()
    except LociError:
        return False
    return True


# --- the service under gunicorn


def worker_pid(data_dir: Path) -> int:
    """The gunicorn worker's pid: it holds the data directory's lock and wrote its pid there."""
    return int((data_dir / ".loci.lock").read_text())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def store_batch(client: httpx.Client, start: int) -> httpx.Response:
    memories = [{"content": f"Disk note {start + n}: " + "the quick brown fox jumps " * 20} for n in range(BATCH)]
    return client.post("/memory/batch", json={"memories": memories})


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 507, response.text
    body = response.json()
    assert body["status"] == "error" and body["code"] == 507
    assert "LOCI_MIN_FREE_BYTES" in body["message"]


def assert_writes_refused_reads_answered(client: httpx.Client, acknowledged: list[str]) -> None:
    some = acknowledged[0]
    assert_refused(client.post("/memory", json={"content": "one more thing to remember"}))
    assert_refused(store_batch(client, 10**6))
    assert_refused(client.patch(f"/memory/{some}", json={"importance": 0.9}))
    assert_refused(client.delete(f"/memory/{some}"))
    assert_refused(client.post("/associate", json={"memory1_id": some, "memory2_id": acknowledged[1]}))
    assert client.get(f"/memory/{some}").status_code == 200
    assert client.get("/recall", params={"query": "quick brown fox"}).status_code == 200
    status = client.post("/memory/status", json={"ids": acknowledged})
    assert status.status_code == 200 and status.json()["counts"]["unknown"] == 0
    assert status.json()["counts"]["failed"] == 0  # paused work uses no attempts
    assert client.post("/consolidate", json={"mode": "decay", "dry_run": True}).status_code == 200
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["disk"]["writes"] == "refused"
    assert health.json()["disk"]["free_bytes"] < RESERVE


def test_service_on_a_full_disk(tmp_path: Path) -> None:
    env = {"EMBEDDING_PROVIDER": "placeholder", "LOCI_MIN_FREE_BYTES": str(RESERVE)}
    with small_filesystem(tmp_path / "fs", 64, "ext4") as fs:
        data_dir = fs / "data"
        service = ServiceProcess(data_dir, tmp_path / "first.log", env)
        restarted = ServiceProcess(data_dir, tmp_path / "second.log", env)
        try:
            service.start()
            pid = worker_pid(data_dir)
            client = httpx.Client(base_url=service.base_url, timeout=30)
            fill(fs / "filler-1", leave=RESERVE + HEADROOM)
            acknowledged: list[str] = []
            response = store_batch(client, 0)
            while response.status_code == 201 and len(acknowledged) < 100 * BATCH:
                acknowledged += response.json()["memory_ids"]
                response = store_batch(client, len(acknowledged))
            assert_refused(response)
            assert len(acknowledged) >= BATCH

            fill(fs / "filler-2")  # another process takes the last byte
            assert free_bytes(fs) < MiB
            for _ in range(3):
                assert_writes_refused_reads_answered(client, acknowledged)
            assert worker_pid(data_dir) == pid and alive(pid)

            (fs / "filler-1").unlink()
            (fs / "filler-2").unlink()
            wait_until(lambda: client.post("/memory", json={"content": "Space is back."}).status_code == 201, 30)
            assert client.get("/health").json()["disk"]["writes"] == "accepted"
            wait_until(lambda: _all_completed(client, acknowledged), timeout=120)
            assert alive(pid) and worker_pid(data_dir) == pid  # the same worker process throughout
            client.close()
            service.kill()  # kill -9 of the whole process group

            restarted.start()
            with httpx.Client(base_url=restarted.base_url, timeout=30) as again:
                status = again.post("/memory/status", json={"ids": acknowledged}).json()
                assert status["counts"]["completed"] == len(acknowledged), status["counts"]
                assert_stores(again)
        finally:
            service.kill()
            restarted.kill()
        log = (tmp_path / "first.log").read_text(errors="replace")
        assert "SIGBUS" not in log and "was sent" not in log
        assert log.count('"event": "disk.low"') >= 1 and log.count('"event": "disk.ok"') >= 1
        print(f"acknowledged before 507: {len(acknowledged)} memories in {len(acknowledged) // BATCH} batches")


def _all_completed(client: httpx.Client, ids: list[str]) -> bool:
    counts = client.post("/memory/status", json={"ids": ids}).json()["counts"]
    assert counts["failed"] == 0 and counts["unknown"] == 0, counts
    return bool(counts["completed"] == len(ids))


def assert_stores(client: httpx.Client) -> None:
    assert client.post("/memory", json={"content": "After the restart."}).status_code == 201
