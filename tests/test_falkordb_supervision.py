"""The embedded FalkorDB child is supervised: restarted when it dies, left alone when it stalls.

At the FalkorDBServer level: kill -9 brings a new child on the same port with the data
back; SIGSTOP does not count as dead; restarts back off while the child cannot start;
`stop()` ends supervision. Under gunicorn: stores during the gap get 503 in the envelope,
the child comes back by itself, and the outage costs a bounded number of log lines.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from service_process import ServiceProcess

from loci.stores.falkordb_server import FalkorDBServer, ServerState
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


def count_nodes(server: FalkorDBServer, graph: str = "g") -> int:
    client = redis.Redis(host=server.host, port=server.port)
    try:
        return int(client.execute_command("GRAPH.QUERY", graph, "MATCH (n:M) RETURN count(n)")[1][0][0])
    finally:
        client.close()


def create_nodes(server: FalkorDBServer, count: int, graph: str = "g") -> None:
    client = redis.Redis(host=server.host, port=server.port)
    try:
        client.execute_command("GRAPH.QUERY", graph, f"UNWIND range(1, {count}) AS n CREATE (:M {{n: n}})")
    finally:
        client.close()


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FalkorDBServer]:
    server = FalkorDBServer(tmp_path / "falkordb").start()
    yield server
    server.stop()


def test_a_killed_child_is_restarted_on_the_same_port_with_its_data(
    server: FalkorDBServer, caplog: pytest.LogCaptureFixture
) -> None:
    create_nodes(server, 100)
    first_pid = server.pid
    assert first_pid is not None and server.state is ServerState.RUNNING and server.restarts == 0

    with caplog.at_level(logging.INFO, logger="loci.stores.falkordb_server"):
        os.kill(first_pid, signal.SIGKILL)
        wait_until(lambda: server.restarts == 1 and server.state is ServerState.RUNNING, what="the restart")

    assert server.pid not in (None, first_pid)
    assert count_nodes(server) == 100  # same data directory: the append-only file brought them back
    events = [getattr(record, "event", None) for record in caplog.records]
    assert events == ["falkordb.exited", "falkordb.restarted"]  # one line per state change
    exited = caplog.records[0]
    assert exited.levelno == logging.ERROR and exited.signal == "SIGKILL" and exited.code == -9  # type: ignore[attr-defined]


def test_a_stalled_child_is_alive_and_not_restarted(server: FalkorDBServer) -> None:
    pid = server.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 2.0  # twenty supervisor looks at a child that does not answer
        while time.monotonic() < deadline:
            assert server.state is ServerState.RUNNING and server.restarts == 0 and server.pid == pid
            time.sleep(0.1)
    finally:
        os.kill(pid, signal.SIGCONT)
    create_nodes(server, 3)
    assert count_nodes(server) == 3 and server.pid == pid


def test_restarts_back_off_while_the_child_cannot_start(
    server: FalkorDBServer, caplog: pytest.LogCaptureFixture
) -> None:
    create_nodes(server, 5)
    pid = server.pid
    assert pid is not None
    squatter = socket.socket()
    try:
        with caplog.at_level(logging.INFO, logger="loci.stores.falkordb_server"):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: server.state is ServerState.RESTARTING, what="restarting")
            squatter.bind(("127.0.0.1", server.port))  # the port is taken: restarts fail until it is free
            failed = lambda: [r for r in caplog.records if getattr(r, "event", None) == "falkordb.restart_failed"]  # noqa: E731
            wait_until(lambda: len(failed()) >= 2, what="two failed restarts")
            assert server.state is ServerState.RESTARTING
            delays = [record.retry_in_s for record in failed()]  # type: ignore[attr-defined]
            assert delays == sorted(delays) and delays[1] > delays[0]  # backing off
    finally:
        squatter.close()
    wait_until(lambda: server.state is ServerState.RUNNING, what="the restart once the port is free")
    assert server.restarts == 1 and count_nodes(server) == 5


def test_stop_ends_supervision_even_mid_restart(tmp_path: Path) -> None:
    server = FalkorDBServer(tmp_path / "falkordb").start()
    pid = server.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: server.state is ServerState.RESTARTING, what="restarting")
    server.stop()
    assert server.state is ServerState.STOPPED
    deadline = time.monotonic() + 2.0  # past the first restart's backoff: nothing comes back
    while time.monotonic() < deadline:
        assert not listening(server.port) and server.pid is None
        time.sleep(0.1)


def falkordb_child_pid(data_dir: Path) -> int:
    """The redis-server whose working directory is the service's FalkorDB directory."""
    wanted = str((data_dir / "falkordb").resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "cwd") == wanted and b"redis-server" in (entry / "cmdline").read_bytes():
                return int(entry.name)
        except OSError:
            continue
    raise AssertionError(f"no FalkorDB child in {wanted}")


def outage_lines(log_text: str) -> list[str]:
    """Log lines (JSON) from Loci about the graph being unreachable or the child's state."""
    lines = []
    for line in log_text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        text = json.dumps(record).lower()
        if "falkordb" in text or "unavailable" in text or "unreachable" in text or "outage" in text:
            lines.append(line)
    return lines


def block_starts(log_file: Path) -> Path:
    """Put a directory where the child writes its log: redis cannot open it, so every start fails."""
    kept = log_file.with_name(log_file.name + ".kept")
    log_file.rename(kept)
    log_file.mkdir()
    return kept


def allow_starts(log_file: Path, kept: Path) -> None:
    log_file.rmdir()
    kept.rename(log_file)


def test_under_gunicorn_a_killed_child_comes_back_and_the_outage_logs_little(tmp_path: Path) -> None:
    data_dir, log_path = tmp_path / "data", tmp_path / "service.log"
    env = {"EMBEDDING_PROVIDER": "placeholder", "LOCI_FALKORDB_APPENDFSYNC": "everysec"}
    with ServiceProcess(data_dir, log_path, env) as service, httpx.Client(base_url=service.base_url) as client:
        before = client.post("/memory", json={"content": "stored before the crash"}, timeout=10)
        assert before.status_code == 201
        memory_id = before.json()["memory_id"]
        pid = falkordb_child_pid(data_dir)
        log_start = log_path.stat().st_size
        batch = [{"content": f"Priya met Omar about release {n}"} for n in range(200)]
        assert client.post("/memory/batch", json={"memories": batch}, timeout=30).status_code == 201  # work in flight

        os.kill(pid, signal.SIGKILL)
        falkordb_log = data_dir / "falkordb" / "falkordb.log"
        kept = block_starts(falkordb_log)  # a gap of some seconds: restarts fail until the log is a file again
        refused = 0
        try:
            gap_ends = time.monotonic() + 8
            while time.monotonic() < gap_ends:
                response = client.post("/memory", json={"content": f"during the gap {refused}"}, timeout=10)
                assert response.status_code == 503, response.text
                body = response.json()
                assert body["status"] == "error" and body["code"] == 503
                refused += 1
                time.sleep(0.05)
        finally:
            allow_starts(falkordb_log, kept)

        deadline = time.monotonic() + 60
        while (response := client.post("/memory", json={"content": "after the gap"}, timeout=10)).status_code != 201:
            assert response.status_code == 503 and time.monotonic() < deadline, response.text
            time.sleep(0.05)
        assert falkordb_child_pid(data_dir) != pid
        fetched = client.get(f"/memory/{memory_id}", timeout=10)
        assert fetched.status_code == 200 and fetched.json()["memory"]["content"] == "stored before the crash"
        wait_until(
            lambda: '"enrichment.outage_over"' in log_path.read_text(errors="replace")[log_start:],
            60,
            what="the log line",
        )
        lines = outage_lines(log_path.read_text(errors="replace")[log_start:])

    events = [json.loads(line).get("event") for line in lines]
    assert events.count("falkordb.exited") == 1 and events.count("falkordb.restarted") == 1
    for stage in ("embedding", "enrichment"):  # each worker: once when the outage starts, once when it ends
        assert events.count(f"{stage}.outage") <= 1 and events.count(f"{stage}.outage_over") <= 1, events
    assert len(lines) < 20, f"{len(lines)} log lines for {refused} refused requests:\n" + "\n".join(lines)
