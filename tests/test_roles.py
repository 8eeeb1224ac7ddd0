"""A fleet process's roles (loci/roles.py, the Settings that choose them) and the enrichment turn that keeps
one namespace's enrichment in one process at a time (StageWorker.turn), on the real FalkorDB."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from loci.errors import ConfigError
from loci.model import Stage
from loci.pipeline.streams import StreamQueue
from loci.services import Services
from tests.helpers import ROOT, store


def test_a_worker_process_needs_shared_queues(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "LOCI_DATA_DIR": str(tmp_path), "LOCI_QUEUE": "memory"}
    done = subprocess.run(
        [sys.executable, "-m", "loci", "worker"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "FALKORDB_HOST" in done.stderr


def test_several_web_processes_need_external_stores(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LOCI_WEB_PROCESSES"):
        make_app(web_processes=2)  # the embedded vector store belongs to one process


def test_one_process_at_a_time_enriches_a_namespace(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    one = make_app(queue_backend="streams", data_dir=tmp_path / "one")
    two = make_app(queue_backend="streams", data_dir=tmp_path / "two")  # another process of the fleet, same graph
    first: Services = one.extensions["loci"]
    second: Services = two.extensions["loci"]
    assert isinstance(first.enrichment_queue, StreamQueue) and first.enrichment_worker.turn is not None
    ids = [store(one, f"turn note {n}") for n in range(6)]
    first.embedding_worker.drain()
    assert first.enrichment_worker.run_once() > 0  # takes the namespace's enrichment turn
    assert second.enrichment_worker.run_once() == 0  # the turn is taken: it leaves the queue alone
    first.enrichment_worker.drain()
    first.enrichment_worker.stop()  # a clean stop hands the turn over at once
    store(two, "turn note after the hand-over")
    second.embedding_worker.drain()
    assert second.enrichment_worker.run_once() > 0
    states = first.graph.pipeline.stage_states(ids)
    assert all(state[Stage.ENRICHMENT][0] == "completed" for state in states.values())
