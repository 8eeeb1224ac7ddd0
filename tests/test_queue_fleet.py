"""StreamQueue across a fleet: several consumers (threads, and processes started with spawn) on
one stream of the session's FalkorDB server, each test on a key prefix of its own.

Each id handed out exactly once, none lost; a dead consumer's batch reclaimed after the
visibility timeout, a live one's long batch never; retries and re-puts waiting their turn
across consumers; adopt from processes starting at once; the fleet view for /health.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from loci.pipeline.queue import WorkItem
from loci.pipeline.streams import StreamQueue
from loci.stores.falkordb_server import FalkorDBServer
from tests.helpers import wait_until

OpenQueue = Callable[..., StreamQueue]

SPAWN = multiprocessing.get_context("spawn")
"""Children start from a fresh interpreter, as separate Loci processes would."""


def _client(host: str, port: int) -> redis.Redis:
    return redis.Redis(host=host, port=port, decode_responses=True)


# --- what a child process runs (module level, so spawn can find it)


def consume_until(host: str, port: int, prefix: str, consumer: str, total: int, out: str) -> None:
    """Take and finish batches until the fleet has finished `total` ids; write the ids this process took."""
    client = _client(host, port)
    queue = StreamQueue(client, prefix, "work", consumer=consumer)
    client.set(f"{prefix}:ready:{consumer}", 1)
    taken: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        batch = queue.take(50, wait=0.2)
        if batch:
            ids = [item.memory_id for item in batch]
            taken += ids
            queue.done(ids)
            client.incrby(f"{prefix}:finished", len(ids))
        elif int(client.get(f"{prefix}:finished") or 0) >= total:
            break
    queue.close()
    Path(out).write_text(json.dumps(taken))


def take_and_die(host: str, port: int, prefix: str, count: int, visibility: float, out: str) -> None:
    """Take a batch, say which ids, and die without a word (SIGKILL: no done, no heartbeat, no cleanup)."""
    queue = StreamQueue(_client(host, port), prefix, "work", consumer="doomed", visibility_timeout=visibility)
    batch = queue.take(count, wait=5.0)
    Path(out).write_text(json.dumps([item.memory_id for item in batch]))
    os.kill(os.getpid(), signal.SIGKILL)


def adopt_at_once(host: str, port: int, prefix: str, consumer: str, ids: list[str], go: str, out: str) -> None:
    """Start like a process finding unqueued work in the graph: wait for the signal, adopt everything."""
    client = _client(host, port)
    queue = StreamQueue(client, prefix, "work", consumer=consumer)
    wait_until(lambda: client.exists(go), 30, what="the start signal", every=0.001)
    Path(out).write_text(json.dumps(queue.adopt(ids)))


# --- fixtures


@pytest.fixture
def prefix(falkordb: FalkorDBServer) -> Iterator[str]:
    """A key prefix of this test's own; its keys are removed afterwards."""
    name = f"fleet_{uuid.uuid4().hex[:12]}"
    yield name
    client = _client(falkordb.host, falkordb.port)
    for key in [*client.scan_iter(match=f"{{{name}}}:*"), *client.scan_iter(match=f"{name}:*")]:
        client.delete(key)
    client.close()


@pytest.fixture
def open_queue(falkordb: FalkorDBServer, prefix: str) -> Iterator[OpenQueue]:
    """StreamQueues on the test's stream (`consumer`, `visibility_timeout` as given); closed afterwards."""
    queues: list[StreamQueue] = []

    def open_(consumer: str, visibility_timeout: float = 60.0) -> StreamQueue:
        queue = StreamQueue(
            _client(falkordb.host, falkordb.port),
            prefix,
            "work",
            consumer=consumer,
            visibility_timeout=visibility_timeout,
        )
        queues.append(queue)
        return queue

    yield open_
    for queue in queues:
        queue.close()


def ids_of(batch: list[WorkItem]) -> list[str]:
    return [item.memory_id for item in batch]


# --- the tests


def test_two_processes_hand_out_each_of_2000_ids_exactly_once(
    falkordb: FalkorDBServer, prefix: str, open_queue: OpenQueue, tmp_path: Path
) -> None:
    total = 2000
    outs = [tmp_path / f"c{n}.json" for n in range(2)]
    children = [
        SPAWN.Process(target=consume_until, args=(falkordb.host, falkordb.port, prefix, f"c{n}", total, str(out)))
        for n, out in enumerate(outs)
    ]
    for child in children:
        child.start()
    client = _client(falkordb.host, falkordb.port)
    wait_until(lambda: all(client.exists(f"{prefix}:ready:c{n}") for n in range(2)), 60, what="both consumers")
    producer = open_queue("producer")
    ids = [f"m{n:04d}" for n in range(total)]
    for start in range(0, total, 100):  # arriving while both consume
        assert producer.put_many(ids[start : start + 100]) == 100
    for child in children:
        child.join(120)
        assert child.exitcode == 0
    taken = [json.loads(out.read_text()) for out in outs]
    assert sorted(taken[0] + taken[1]) == ids  # none lost, none handed out twice
    assert all(taken), "both consumers took a share"
    assert producer.is_idle(include_delayed=True)
    assert producer.stats().pending == 0


def test_a_dead_consumers_batch_is_reclaimed_after_the_visibility_timeout(
    falkordb: FalkorDBServer, open_queue: OpenQueue, prefix: str, tmp_path: Path
) -> None:
    visibility = 3.0
    survivor = open_queue("survivor", visibility_timeout=visibility)
    survivor.put_many([f"m{n}" for n in range(30)])
    out = tmp_path / "doomed.json"
    child = SPAWN.Process(target=take_and_die, args=(falkordb.host, falkordb.port, prefix, 10, visibility, str(out)))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    doomed = json.loads(out.read_text())
    assert len(doomed) == 10 and survivor.stats().inflight == 10

    got: list[str] = []
    early = survivor.take(100)  # at once: the dead consumer's ids are still its own
    got += ids_of(early)
    survivor.done(ids_of(early))
    assert not set(got) & set(doomed)

    def reclaimed() -> bool:
        batch = survivor.take(100, wait=0.2)
        got.extend(ids_of(batch))
        survivor.done(ids_of(batch))
        return set(doomed) <= set(got)

    wait_until(reclaimed, 30, what="the dead consumer's ids reclaimed")
    assert sorted(got) == sorted(f"m{n}" for n in range(30))  # each once
    assert survivor.stats() == type(survivor.stats())(0, 0, 0, 0)
    assert {c.name: c.pending for c in survivor.consumers()}["doomed"] == 0


def test_a_live_consumers_long_batch_is_not_reclaimed_while_it_heartbeats(open_queue: OpenQueue) -> None:
    visibility = 0.6
    slow, other = open_queue("slow", visibility), open_queue("other", visibility)
    slow.put_many(["a", "b", "c"])
    batch = slow.take(10)
    assert sorted(ids_of(batch)) == ["a", "b", "c"]
    deadline = time.monotonic() + visibility * 5  # the batch "works" for five timeouts
    while time.monotonic() < deadline:
        assert other.take(10, wait=0.1) == []
    assert slow.heartbeat() == []  # nothing of its batch was lost
    assert {c.name: c.pending for c in slow.consumers()}["slow"] == 3
    slow.done(ids_of(batch))
    assert slow.is_idle(include_delayed=True)


def test_a_stalled_consumer_loses_its_claim_and_cannot_end_the_new_owners(open_queue: OpenQueue) -> None:
    """No heartbeat for longer than the timeout (a stalled process): its id goes to another consumer,
    and the stalled one's late done() leaves the new owner's claim alone."""
    stalled, other = open_queue("stalled", 0.3), open_queue("other", 0.3)
    stalled.put("a")
    assert ids_of(stalled.take(1)) == ["a"]
    stalled.close()  # no more heartbeats: as if the process hung
    got: list[WorkItem] = []
    wait_until(lambda: got.extend(other.take(1, wait=0.1)) or got, 10, what="the stalled id reclaimed")
    assert ids_of(got) == ["a"]
    stalled.done(["a"])  # wakes up, finishes late
    assert other.stats().inflight == 1  # still the new owner's
    assert stalled.heartbeat() == []  # it no longer holds anything
    other.done(["a"])
    assert other.stats().inflight == 0


def test_a_retry_is_not_handed_out_before_its_time_anywhere(open_queue: OpenQueue) -> None:
    first, second = open_queue("first"), open_queue("second")
    first.put("a")
    assert ids_of(first.take(1)) == ["a"]
    started = time.monotonic()
    first.retry(WorkItem("a", 1), 1.0)
    first.done(["a"])
    got: list[WorkItem] = []
    while not got:
        got = second.take(1, wait=0.1)
        if not got:
            assert time.monotonic() - started < 15, "the retry never came due"
    assert time.monotonic() - started >= 1.0  # due on the server's clock, never early
    assert got == [WorkItem("a", 1)]


def test_an_id_put_again_while_in_flight_elsewhere_waits_for_done(open_queue: OpenQueue) -> None:
    owner, other = open_queue("owner"), open_queue("other")
    owner.put("a")
    assert ids_of(owner.take(1)) == ["a"]
    assert other.put("a")  # edited while being worked on: queued again
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        assert other.take(5, wait=0.1) == []  # never while the owner holds it
    assert other.stats().depth == 1  # parked, waiting for its turn
    owner.done(["a"])
    assert ids_of(other.take(5, wait=2.0)) == ["a"]  # released by done, not by a timeout


def test_adopt_from_two_processes_starting_at_once_queues_each_id_once(
    falkordb: FalkorDBServer, open_queue: OpenQueue, prefix: str, tmp_path: Path
) -> None:
    ids = [f"m{n:04d}" for n in range(1000)]
    running = open_queue("running")
    running.put_many(ids[:10])
    assert len(running.take(5)) == 5  # 5 in flight in a process already running, 5 still queued
    go = f"{prefix}:go"
    outs = [tmp_path / f"a{n}.json" for n in range(2)]
    children = [
        SPAWN.Process(target=adopt_at_once, args=(falkordb.host, falkordb.port, prefix, f"start{n}", ids, go, str(out)))
        for n, out in enumerate(outs)
    ]
    for child in children:
        child.start()
    client = _client(falkordb.host, falkordb.port)
    wait_until(lambda: len(running.consumers()) >= 1, 5)
    client.set(go, 1)
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    adopted = [json.loads(out.read_text()) for out in outs]
    assert sum(adopted) == 990  # neither the queued nor the in-flight ones, and each other one once
    assert running.stats().pending == 995 and running.stats().inflight == 5


def test_the_fleet_view_lists_each_consumer_with_what_it_holds(open_queue: OpenQueue) -> None:
    one, two = open_queue("one"), open_queue("two")
    one.put_many(["a", "b", "c"])
    one.take(2)
    two.take(5)
    view = {c.name: c.pending for c in one.consumers()}
    assert view == {"one": 2, "two": 1}
    assert all(c.idle_ms >= 0 for c in two.consumers())
    stats = two.stats()
    assert (stats.depth, stats.pending, stats.inflight) == (0, 0, 3)
