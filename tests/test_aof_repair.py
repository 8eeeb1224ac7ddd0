"""The append-only file at the edges: a damaged tail is repaired at start and the loss logged; a full disk.

Each damage test writes graph data, kills the server with SIGKILL, damages the newest incr
file the way a crash or a bad disk would, and starts it again: the start must succeed, the
earlier data be there, and the log name what was lost. The full-disk tests mount a small
tmpfs (skipped where mounting is not allowed) to see what each fsync policy does on ENOSPC.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest
import redis

from loci.config import AppendFsync
from loci.stores.falkordb_aof import AOF_DIR, newest_incr_file
from loci.stores.falkordb_server import FalkorDBServer, ServerState
from tests.filesystems import fill, small_filesystem
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

NODES = 50
LOGGERS = ("loci.stores.falkordb_server", "loci.stores.falkordb_aof")


def query(server: FalkorDBServer, cypher: str) -> list[list[object]]:
    client = redis.Redis(host=server.host, port=server.port)
    try:
        reply = client.execute_command("GRAPH.QUERY", "g", cypher)
        return reply[1] if len(reply) == 3 else []  # type: ignore[no-any-return]  # [header, rows, stats] or [stats]
    finally:
        client.close()


def count_nodes(server: FalkorDBServer) -> int:
    return int(query(server, "MATCH (m:M) RETURN count(m)")[0][0])  # type: ignore[arg-type]


def crashed_with_nodes(data_dir: Path) -> tuple[FalkorDBServer, Path]:
    """A server that wrote NODES nodes, one query each, then was killed; and its newest incr file."""
    server = FalkorDBServer(data_dir, supervise=False).start()
    for n in range(NODES):
        query(server, f"CREATE (:M {{n: {n}, text: 'memory number {n}'}})")
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    server.stop()  # reaps the dead child
    incr = newest_incr_file(data_dir / AOF_DIR)
    assert incr is not None
    return server, incr


def records(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == event]


def test_a_tail_cut_mid_command_is_loaded_without_it_and_the_loss_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, incr = crashed_with_nodes(tmp_path / "falkordb")
    data = incr.read_bytes()
    incr.write_bytes(data[:-20])  # the last command half written

    with caplog.at_level(logging.INFO):
        server.start()
    try:
        assert count_nodes(server) == NODES - 1  # everything before the cut command is there
        assert query(server, "MATCH (m:M {n: 0}) RETURN m.text")[0][0] in ("memory number 0", b"memory number 0")
    finally:
        server.stop()
    [truncated] = records(caplog, "falkordb.aof_truncated")
    assert truncated.levelno == logging.WARNING
    assert truncated.file == incr.name  # type: ignore[attr-defined]
    assert truncated.size_before == len(data) - 20  # type: ignore[attr-defined]
    assert truncated.commands_cut == 1  # type: ignore[attr-defined]
    assert truncated.bytes_cut == len(data) - 20 - truncated.ok_up_to > 0  # type: ignore[attr-defined]
    assert f"n: {NODES - 1}" in truncated.cut_preview  # type: ignore[attr-defined]


def test_a_garbage_tail_is_cut_by_redis_check_aof_and_the_original_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, incr = crashed_with_nodes(tmp_path / "falkordb")
    data = incr.read_bytes()
    garbage = b"\x00\x17not a command at all\r\n" * 3
    incr.write_bytes(data + garbage)  # redis refuses this ("Bad file format"), aof-load-truncated or not

    with caplog.at_level(logging.INFO):
        server.start()
    try:
        assert count_nodes(server) == NODES
    finally:
        server.stop()
    [repaired] = records(caplog, "falkordb.aof_repaired")
    assert repaired.levelno == logging.WARNING
    assert repaired.file == str(incr) and repaired.ok_up_to == len(data)  # type: ignore[attr-defined]
    assert repaired.bytes_cut == len(garbage) and repaired.commands_cut == 0  # type: ignore[attr-defined]
    backup = Path(repaired.backup)  # type: ignore[attr-defined]
    assert backup.parent == incr.parent and backup.name.startswith(f"{incr.name}.corrupt-")
    assert backup.read_bytes() == data + garbage  # the original, byte for byte


def test_damage_in_the_middle_loses_what_follows_and_says_how_much(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, incr = crashed_with_nodes(tmp_path / "falkordb")
    data = incr.read_bytes()
    damaged_at = data.index(b"CREATE (:M {n: 30,")
    damaged_at = data.rindex(b"*3\r\n", 0, damaged_at)  # the header of the query that creates node 30
    incr.write_bytes(data[:damaged_at] + b"?3\r\n" + data[damaged_at + 4 :])

    with caplog.at_level(logging.INFO):
        server.start()
    try:
        assert count_nodes(server) == 30  # nodes 0..29; 30 and everything after it were cut
    finally:
        server.stop()
    [repaired] = records(caplog, "falkordb.aof_repaired")
    assert repaired.ok_up_to == damaged_at and repaired.bytes_cut == len(data) - damaged_at  # type: ignore[attr-defined]
    assert repaired.commands_cut == NODES - 30 - 1  # whole commands after the damaged one  # type: ignore[attr-defined]


def test_a_clean_start_logs_no_loss(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server, _ = crashed_with_nodes(tmp_path / "falkordb")  # killed between commands: nothing half written
    with caplog.at_level(logging.INFO):
        server.start()
    try:
        assert count_nodes(server) == NODES
    finally:
        server.stop()
    assert not records(caplog, "falkordb.aof_truncated") and not records(caplog, "falkordb.aof_repaired")


def write_until_refused(server: FalkorDBServer, limit: int = 5000) -> int:
    """Create nodes one query at a time until a write is refused; how many were acknowledged."""
    client = redis.Redis(host=server.host, port=server.port, socket_timeout=5)
    try:
        for n in range(limit):
            try:
                client.execute_command("GRAPH.QUERY", "g", f"CREATE (:M {{n: {n}, text: '{'y' * 200}'}})")
            except redis.RedisError:
                return n
    finally:
        client.close()
    raise AssertionError(f"{limit} writes on a full disk were all acknowledged")


def test_always_a_full_disk_makes_the_child_exit_rather_than_acknowledge_and_it_comes_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small_filesystem(tmp_path / "fs", 8, "tmpfs") as fs:
        server = FalkorDBServer(fs / "falkordb", appendfsync=AppendFsync.ALWAYS).start()
        try:
            filler = fs / "filler"
            fill(filler, leave=150_000)
            with caplog.at_level(logging.INFO):
                acknowledged = write_until_refused(server)
                # redis: "Can't recover from AOF write error"
                wait_until(lambda: records(caplog, "falkordb.exited"), 30, what="the child to exit on the write error")
                filler.unlink()
                back = lambda: server.state is ServerState.RUNNING and server.restarts >= 1  # noqa: E731
                wait_until(back, 30, what="the supervisor to bring it back")
            assert "Can't recover from AOF write error" in server.log_path.read_text()
            assert count_nodes(server) == acknowledged  # every acknowledged write, none more
        finally:
            server.stop()


def test_everysec_a_stop_while_writes_are_held_back_says_they_are_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small_filesystem(tmp_path / "fs", 8, "tmpfs") as fs:
        server = FalkorDBServer(fs / "falkordb", appendfsync=AppendFsync.EVERYSEC).start()
        try:
            filler = fs / "filler"
            fill(filler, leave=150_000)
            acknowledged = write_until_refused(server)  # then MISCONF: redis holds the last write in memory
            client = redis.Redis(host=server.host, port=server.port)
            assert client.info("persistence")["aof_last_write_status"] == "err"
            client.close()
            with caplog.at_level(logging.INFO):
                server.stop()
            [error] = records(caplog, "falkordb.aof_write_error")
            assert error.levelno == logging.ERROR
            filler.unlink()
            server.start()
            assert count_nodes(server) < acknowledged  # what the log warned about: acknowledged, then lost
        finally:
            server.stop()
