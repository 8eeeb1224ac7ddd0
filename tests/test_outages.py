"""When FalkorDB goes away: /health says so (503), writes fail cleanly, and it all recovers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask

from loci.errors import ConfigError
from loci.stores.falkordb_server import FalkorDBServer


@pytest.fixture
def own_falkordb(tmp_path: Path) -> Iterator[FalkorDBServer]:
    server = FalkorDBServer(tmp_path / "own-falkordb").start()
    yield server
    server.stop()


def test_graph_outage_and_recovery(own_falkordb: FalkorDBServer, make_app: Callable[..., Flask]) -> None:
    app = make_app(falkordb_host=own_falkordb.host, falkordb_port=own_falkordb.port)
    client = app.test_client()
    memory_id = client.post("/memory", json={"content": "written before the outage"}).json["memory_id"]
    assert client.get("/health").status_code == 200

    own_falkordb.stop()
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json["status"] == "unhealthy" and health.json["falkordb"] == "disconnected"
    assert "falkordb" in health.json["errors"]
    before = app.extensions["loci"].embedding_queue.stats().pending
    failed = client.post("/memory", json={"content": "written during the outage"})
    assert failed.status_code == 503 and failed.json["status"] == "error" and failed.json["code"] == 503
    assert app.extensions["loci"].embedding_queue.stats().pending == before  # nothing queued for it
    assert client.get(f"/memory/{memory_id}").status_code == 503

    own_falkordb.start()  # same port, same data directory: the append-only file brings the memory back
    assert client.get("/health").status_code == 200
    assert client.get(f"/memory/{memory_id}").json["memory"]["content"] == "written before the outage"
    assert app.extensions["loci"].graph.memories.count() == 1


def test_a_second_process_cannot_take_the_same_data_dir(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    make_app(data_dir=tmp_path / "shared")
    with pytest.raises(ConfigError, match="another Loci process"):
        make_app(data_dir=tmp_path / "shared")


def test_a_clean_stop_compacts_the_append_only_file_and_a_restart_keeps_everything(tmp_path: Path) -> None:
    server = FalkorDBServer(tmp_path / "compacted", compact_min_bytes=1).start()
    client = redis.Redis(host=server.host, port=server.port)
    client.execute_command("GRAPH.QUERY", "g", "UNWIND range(1, 2000) AS n CREATE (:Memory {n: n, text: 'x'})")
    client.close()
    aof = tmp_path / "compacted" / "appendonlydir"
    appended = sum(f.stat().st_size for f in aof.glob("*.incr.aof"))
    server.stop()

    # the writes moved into the snapshot base: the next start has (almost) nothing to replay
    assert sum(f.stat().st_size for f in aof.glob("*.incr.aof")) < appended
    assert sum(f.stat().st_size for f in aof.glob("*.base.rdb")) > 0
    server.start()
    client = redis.Redis(host=server.host, port=server.port)
    try:
        count = client.execute_command("GRAPH.QUERY", "g", "MATCH (m:Memory) RETURN count(m)")[1][0][0]
        assert count == 2000
    finally:
        client.close()
        server.stop()
