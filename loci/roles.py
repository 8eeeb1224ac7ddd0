"""`python -m loci serve` and `python -m loci worker`: one process of a fleet, in one role.

- `serve [--no-workers] [--processes N]`: the API under gunicorn (`make run` runs the same).
  `--no-workers` leaves the pipeline to worker processes; `--processes N` runs N gunicorn
  worker processes, which needs external stores and shared queues (docs/fleet.md).
- `worker [--stages embedding,enrichment]`: the pipeline only, no HTTP: it works the shared
  queues (Redis Streams on FalkorDB's server) of every namespace, and takes its turn at the
  scheduled jobs by lease. It stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from loci.config import Settings
from loci.errors import LociError
from loci.logs import configure_logging
from loci.runtime import Runtime

log = logging.getLogger(__name__)


def add_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="serve the API (gunicorn)", description=__doc__)
    serve.add_argument("--no-workers", action="store_true", help="serve the API only; worker processes do the rest")
    serve.add_argument("--processes", type=int, help="gunicorn worker processes (default: LOCI_WEB_PROCESSES or 1)")
    worker = commands.add_parser("worker", help="run the pipeline workers only (shared queues)", description=__doc__)
    worker.add_argument(
        "--stages", default=None, help="comma-separated: embedding, enrichment (default: LOCI_WORKER_STAGES or both)"
    )


def run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return serve(args)
    return work(args)


def serve(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.no_workers:
        env["LOCI_RUN_WORKERS"] = "false"
    if args.processes:
        env["LOCI_WEB_PROCESSES"] = str(args.processes)
    gunicorn = Path(sys.executable).parent / "gunicorn"
    os.execve(gunicorn, [str(gunicorn), "-c", "python:loci.serving.gunicorn_config", "app:app"], env)  # noqa: S606 - becomes gunicorn, no shell
    return 0  # not reached: execve replaces this process


def work(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.stages:
        env["LOCI_WORKER_STAGES"] = args.stages
    env["LOCI_RUN_WORKERS"] = "true"
    try:
        settings = Settings.from_env(env)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    if not settings.shared_queues:
        print(
            "error: a worker process needs queues it can share with the API processes: set FALKORDB_HOST "
            "(an external FalkorDB) or LOCI_QUEUE=streams",
            file=sys.stderr,
        )
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        runtime = Runtime.open(settings)
    except LociError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    try:
        runtime.start()
        log.info("worker started", extra={"event": "worker.started", "stages": list(settings.worker_stages)})
        # on stderr whatever LOG_LEVEL says: what a supervisor (or WorkerProcess) waits for
        print(f"loci worker ready: {','.join(settings.worker_stages)}", file=sys.stderr, flush=True)
        stop.wait()
    finally:
        runtime.close()
    log.info("worker stopped", extra={"event": "worker.stopped"})
    return 0
