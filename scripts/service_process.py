"""ServiceProcess: run Loci under gunicorn as a child process, the way `make run` does.

Used by the benchmarks and the end-to-end tests (scripts/ is on pytest's pythonpath),
which need the real service on a free loopback port with its own data directory.
`start()` waits until /health answers 200 (failing at once, with the log tail, if the
process dies); `stop()` sends SIGTERM and waits, then kills. WorkerProcess runs
`python -m loci worker` the same way, for a fleet on shared queues.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Self

from loci.stores.falkordb_server import free_port

ROOT = Path(__file__).resolve().parent.parent
MODEL_CACHE = Path(tempfile.gettempdir()) / "loci-models"
"""Where services started here keep the local model's ONNX graph unless LOCAL_EMBEDDING_CACHE_DIR says."""


class ChildProcess(ABC):
    """A Loci process started by a test or benchmark in its own process group, logging to `log_path`."""

    log_path: Path
    _process: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def start(self, timeout: float = 180.0) -> Self:
        """Start it and return once it is ready (each kind knows how to tell)."""

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM and wait; the whole group is killed if it does not stop in time."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def kill(self) -> None:
        """SIGKILL the whole process group at once, as a crash or an OOM kill would."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class ServiceProcess(ChildProcess):
    def __init__(self, data_dir: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir, self.log_path = Path(data_dir), Path(log_path)
        self.port = free_port()
        self.env = {
            **os.environ,
            "PORT": str(self.port),
            "LOCI_DATA_DIR": str(self.data_dir),
            "LOCI_LOG_FORMAT": "json",
            # the local model's exported ONNX graph, shared by every service started here (keyed by its weights)
            "LOCAL_EMBEDDING_CACHE_DIR": os.environ.get("LOCAL_EMBEDDING_CACHE_DIR", str(MODEL_CACHE)),
            # loopback whatever the token says (with one, the service would listen on every interface)
            "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{self.port}",
            **(env or {}),
        }
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> Self:
        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [str(gunicorn), "-c", "gunicorn.conf.py", "app:app"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group, so kill() takes every process down at once
            )
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if self._process.poll() is not None:
                raise RuntimeError(f"Loci exited with {self._process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Loci did not become healthy in {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.2)
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=5) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False


class WorkerProcess(ChildProcess):
    """`python -m loci worker` in its own process group: the pipeline only, on shared queues (tests, benchmarks)."""

    def __init__(self, log_path: Path, env: dict[str, str], stages: str | None = None) -> None:
        self.log_path, self.stages = log_path, stages
        self.env = {"LOCAL_EMBEDDING_CACHE_DIR": str(MODEL_CACHE), **os.environ, **env}
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> Self:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "loci", "worker", *(["--stages", self.stages] if self.stages else [])]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while "loci worker ready" not in self.log_tail(200_000):
            if self._process.poll() is not None:
                raise RuntimeError(f"the worker exited with {self._process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the worker did not start in {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.2)
        return self
