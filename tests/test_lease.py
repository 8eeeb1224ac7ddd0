"""Lease (loci/lease.py) on the session's FalkorDB server, and the scheduler sharing its jobs
through one across two "processes" (two Schedulers, each with its own connections).

One holder at a time; takeover once the holder stops renewing; a stale holder can neither
renew nor release; a renewer keeps it across many ttls; two schedulers run a job once per
interval in total, and the survivor keeps running it after the holder shuts down.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from consolidation import Consolidator
from loci.config import Settings
from loci.events import EventBus
from loci.lease import Lease, LeaseRenewer
from loci.scheduler import Scheduler
from loci.stores.falkordb_server import FalkorDBServer
from loci.stores.graph import GraphStore
from loci.stores.qdrant_server import QdrantServerStore
from loci.timeutil import parse_timestamp
from tests.conftest import DIMENSION
from tests.helpers import wait_until


@pytest.fixture
def lease_key(falkordb: FalkorDBServer) -> Iterator[str]:
    key = f"test_lease_{uuid.uuid4().hex[:12]}"
    yield key
    redis.Redis(host=falkordb.host, port=falkordb.port).delete(key)


@pytest.fixture
def make_lease(falkordb: FalkorDBServer, lease_key: str) -> Callable[[str, float], Lease]:
    def make(holder: str, ttl: float) -> Lease:
        return Lease(redis.Redis(host=falkordb.host, port=falkordb.port, decode_responses=True), lease_key, holder, ttl)

    return make


def test_one_holder_at_a_time(make_lease: Callable[[str, float], Lease]) -> None:
    one, two = make_lease("one", 30), make_lease("two", 30)
    assert one.acquire() and one.held
    assert not two.acquire() and not two.held
    assert one.holder() == two.holder() == "one"
    assert one.acquire()  # acquiring a lease already ours renews it
    assert one.release() and one.holder() is None
    assert two.acquire() and two.holder() == "two"


def test_another_takes_over_once_the_holder_stops_renewing(make_lease: Callable[[str, float], Lease]) -> None:
    one, two = make_lease("one", 0.3), make_lease("two", 0.3)
    assert one.acquire()
    wait_until(two.acquire, 10, what="the lease to expire and pass", every=0.02)
    assert two.holder() == "two"
    assert not one.held  # its own reckoning lapsed no later than the server's


def test_a_stale_holder_can_neither_renew_nor_release_after_a_takeover(
    make_lease: Callable[[str, float], Lease],
) -> None:
    one, two = make_lease("one", 0.2), make_lease("two", 30)
    assert one.acquire()
    wait_until(two.acquire, 10, what="the takeover", every=0.02)
    assert not one.renew() and not one.release()  # fails on a GET-then-DEL lease: it ends two's
    assert not one.acquire()
    assert two.holder() == "two" and two.renew()


def test_a_renewer_keeps_the_lease_across_many_ttls_and_releases_it_on_stop(
    make_lease: Callable[[str, float], Lease],
) -> None:
    one, two = make_lease("one", 0.3), make_lease("two", 0.3)
    renewer = LeaseRenewer(one, 0.1)
    renewer.start()
    wait_until(lambda: one.holder() == "one", 5, what="the renewer's first acquire")
    deadline = time.monotonic() + 1.5  # five ttls
    while time.monotonic() < deadline:
        assert not two.acquire()
        time.sleep(0.05)
    renewer.stop()
    assert two.acquire()  # released at once, no expiry to wait for


# --- the scheduler with a lease


@pytest.fixture
def make_scheduler(
    falkordb: FalkorDBServer, make_settings: Callable[..., Settings], graph: GraphStore, lease_key: str
) -> Iterator[Callable[[str], Scheduler]]:
    """Schedulers as separate processes would have them: their own graph connection and lease object,
    one 1-second job (decay) due at once."""
    settings = make_settings(
        consolidation_decay_interval_seconds=1,
        consolidation_creative_interval_seconds=0,
        consolidation_cluster_interval_seconds=0,
        consolidation_forget_interval_seconds=0,
        consolidation_startup_delay_seconds=0,
        sync_check_interval_seconds=0,
    )
    made: list[tuple[Scheduler, GraphStore, QdrantServerStore]] = []

    def make(name: str) -> Scheduler:
        own_graph = GraphStore(falkordb.host, falkordb.port, graph.graph_name)
        vectors = QdrantServerStore(":memory:", collection="memories", dimension=DIMENSION)
        consolidator = Consolidator(own_graph, vectors, settings, EventBus())
        lease = Lease(own_graph.redis, lease_key, name, ttl_seconds=1.5)
        scheduler = Scheduler(consolidator, settings, lease=lease)
        made.append((scheduler, own_graph, vectors))
        return scheduler

    yield make
    for scheduler, own_graph, vectors in made:
        scheduler.shutdown()
        own_graph.close()
        vectors.close()


def decay_starts(graph: GraphStore) -> list[float]:
    runs = [run for run in graph.maintenance.runs(200) if run["task"] == "decay"]
    return sorted(parse_timestamp(run["started_at"]).timestamp() for run in runs)


def test_two_schedulers_with_one_lease_run_a_job_once_per_interval_and_survive_the_holder(
    make_scheduler: Callable[[str], Scheduler], graph: GraphStore
) -> None:
    """The one live-scheduler test that waits for jobs to fire: it is about timing across processes.
    Fails without the lease (both would run every job: two runs per interval, milliseconds apart)."""
    first, second = make_scheduler("first"), make_scheduler("second")
    first.start()
    second.start()
    wait_until(lambda: len(decay_starts(graph)) >= 4, 30, what="four runs of the job")
    assert first.lease is not None and second.lease is not None
    holder = first if first.lease.holder() == "first" else second
    survivor = second if holder is first else first
    holder.shutdown()  # the holder goes away (releasing its lease)
    before = len(decay_starts(graph))
    wait_until(lambda: len(decay_starts(graph)) >= before + 3, 30, what="the survivor to carry on")
    assert survivor.lease is not None and survivor.lease.holder() == survivor.lease.name
    survivor.shutdown()

    starts = decay_starts(graph)
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert min(gaps) > 0.5, gaps  # never two runs in one interval
