"""The queue contract, run against both implementations: WorkQueue (in this process) and
StreamQueue (Redis Streams on the session's FalkorDB server, a key prefix per test).

Pending/in-flight bookkeeping, delayed retries, isolation, and batching without idle latency.
The fleet-level behaviour of StreamQueue (several consumers, dead ones) is in test_queue_fleet.py.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from loci.pipeline.queue import Queue, WorkItem, WorkQueue
from loci.pipeline.streams import StreamQueue
from loci.stores.falkordb_server import FalkorDBServer
from tests.helpers import FakeClock

MakeQueue = Callable[..., Queue]


@pytest.fixture(params=["memory", "stream"])
def make_queue(request: pytest.FixtureRequest) -> Iterator[MakeQueue]:
    """Queues of one implementation; `clock=` a FakeClock for retry delays. Stream keys are removed afterwards."""
    made: list[Queue] = []
    if request.param == "memory":

        def make(clock: Callable[[], float] = time.monotonic) -> Queue:
            return WorkQueue("t", clock)

        yield make
        return
    server: FalkorDBServer = request.getfixturevalue("falkordb")
    client = redis.Redis(host=server.host, port=server.port, decode_responses=True)
    prefix = f"test_{uuid.uuid4().hex[:12]}"

    def make_stream(clock: Callable[[], float] | None = None) -> Queue:
        queue = StreamQueue(client, prefix, "t", consumer=f"c{len(made)}", clock=clock)
        made.append(queue)
        return queue

    yield make_stream
    for queue in made:
        queue.close()
    for key in client.scan_iter(match=f"{{{prefix}}}:*"):
        client.delete(key)
    client.close()


def test_an_id_is_queued_once(make_queue: MakeQueue) -> None:
    queue = make_queue()
    assert queue.put("a")
    assert not queue.put("a")
    assert queue.put_many(["a", "b", "c"]) == 2
    assert queue.stats().pending == 3
    assert [item.memory_id for item in queue.take(10)] == ["a", "b", "c"]


def test_take_marks_in_flight_and_done_releases(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.put_many(["a", "b"])
    batch = queue.take(1)
    assert [i.memory_id for i in batch] == ["a"]
    stats = queue.stats()
    assert (stats.pending, stats.inflight, stats.depth) == (1, 1, 1)
    queue.done(["a"])
    assert queue.stats().inflight == 0


def test_an_in_flight_id_requeued_waits_for_its_turn(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.put("a")
    first = queue.take(5)
    assert queue.put("a")  # edited while being embedded: must be processed again
    assert queue.take(5) == []  # but not concurrently
    queue.done([i.memory_id for i in first])
    assert [i.memory_id for i in queue.take(5)] == ["a"]


def test_retry_waits_for_its_time(make_queue: MakeQueue) -> None:
    clock = FakeClock()
    queue = make_queue(clock=clock)
    queue.put("a")
    queue.take(1)
    queue.retry(WorkItem("a", attempts=1), delay=30)
    queue.done(["a"])
    assert queue.stats().delayed == 1 and queue.stats().inflight == 0
    assert queue.take(1) == []
    clock.advance(31)
    (again,) = queue.take(1)
    assert again == WorkItem("a", attempts=1)


def test_a_lone_item_is_taken_without_lingering(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.put("a")
    # a take that lingered would wait up to linger / 5 = 12 s for more, and so gather "b", due in 2 s
    late = threading.Timer(2.0, queue.put, args=("b",))
    late.start()
    try:
        batch = queue.take(64, wait=1.0, linger=60.0)
    finally:
        late.cancel()
    assert [i.memory_id for i in batch] == ["a"]


def test_take_blocks_until_work_arrives(make_queue: MakeQueue) -> None:
    queue = make_queue()
    threading.Timer(0.05, queue.put, args=("late",)).start()
    batch = queue.take(10, wait=2.0)
    assert [i.memory_id for i in batch] == ["late"]


def test_a_stream_is_gathered_into_one_batch_while_it_keeps_arriving(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.put_many(["a", "b"])

    def trickle() -> None:
        for n in range(8):
            time.sleep(0.005)
            queue.put(f"x{n}")

    feeder = threading.Thread(target=trickle)
    feeder.start()
    batch = queue.take(10, wait=1.0, linger=0.5)
    feeder.join()
    assert len(batch) == 10  # filled while items kept arriving, then stopped because full


def test_take_returns_empty_after_wait(make_queue: MakeQueue) -> None:
    queue = make_queue()
    assert queue.take(5, wait=0.02) == []


def test_an_id_put_again_while_a_batch_lingers_is_not_taken_twice(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.put_many(["a", "b"])

    def requeue() -> None:
        time.sleep(0.01)
        queue.put("a")  # e.g. an edit arriving while "a" is being gathered
        queue.put("c")

    feeder = threading.Thread(target=requeue)
    feeder.start()
    batch = queue.take(10, wait=1.0, linger=0.2)
    feeder.join()
    ids = [item.memory_id for item in batch]
    assert sorted(ids) == ["a", "b", "c"]
    assert queue.stats().pending == 1  # the second "a" waits for the first to finish


def test_an_isolated_retry_is_taken_alone(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.put_many(["a", "b", "c"])
    batch = queue.take(10)
    for item in batch:
        queue.retry(item, 0.0, isolate=item.memory_id == "b")
    queue.done(item.memory_id for item in batch)
    queue.put("d")
    taken = [[i.memory_id for i in queue.take(10)] for _ in range(3)]
    assert taken == [["d", "a"], ["b"], ["c"]]  # "b" goes alone: the batch before it stops short


def test_put_items_keeps_attempts(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.put_items([WorkItem("a", 2), WorkItem("b", 0)])
    assert {i.memory_id: i.attempts for i in queue.take(5)} == {"a": 2, "b": 0}


# --- ownership: only the thread that took an id lets it go (issue 10, finding 11)


def test_a_retried_id_stays_with_its_owner_until_done(make_queue: MakeQueue) -> None:
    """A leader writing another thread's batch puts its ids back after a failed write; the
    owner has not called done() yet, so no third thread may take them (fails if retry frees them)."""
    queue = make_queue()
    queue.put("a")
    (owned,) = queue.take(1)
    queue.put("a")  # enrichment changed it meanwhile: queued again, ready at once
    queue.retry(owned, 0.0)  # the group write holding it failed
    assert queue.take(1) == []  # its owner may still be working on it
    assert queue.stats().inflight == 1
    queue.done(["a"])
    assert [i.memory_id for i in queue.take(1)] == ["a"]


def test_the_first_owners_done_cannot_free_the_next_owners_id(make_queue: MakeQueue) -> None:
    """Two overlapping owners of one id are impossible, so an older snapshot's write can never
    land after a newer one's (fails on a queue whose retry releases the id)."""
    queue = make_queue()
    queue.put("a")
    (first,) = queue.take(1)
    queue.retry(first, 0.0)
    second = queue.take(1)  # a third thread looks for work while the owner is still finishing
    queue.done(["a"])  # the first owner finishes
    queue.put("a")  # edited again
    third = queue.take(1)
    holders = [batch for batch in (second, third) if batch]
    assert len(holders) == 1  # never two threads holding "a" at once


def test_adopt_queues_only_ids_not_queued_nor_in_flight(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.put_many(["a", "b"])
    queue.take(1)  # "a" in flight
    assert queue.adopt(["a", "b", "c"]) == 1  # only "c" was neither
    assert queue.stats().pending == 2


def test_an_isolated_id_never_joins_a_lingering_batch(make_queue: MakeQueue) -> None:
    """An isolated retry goes alone even when a batch lingers for more (fails on a WorkQueue whose
    linger let it join the batch gathered before it)."""
    queue = make_queue()
    queue.put("x")
    (x,) = queue.take(1)
    queue.retry(x, 0.0, isolate=True)
    queue.done(["x"])
    queue.put_many(["a", "b"])
    batch = queue.take(10, wait=1.0, linger=0.05)
    assert "x" not in [item.memory_id for item in batch]
    assert [item.memory_id for item in queue.take(10, wait=1.0)] == ["x"]


def test_done_by_a_queue_that_never_took_the_id_changes_nothing(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.put("a")
    queue.take(1)
    queue.retry(WorkItem("a", 1), 0.0)
    assert queue.stats().inflight == 1 and queue.stats().pending == 1
    assert queue.is_idle() is False
    queue.done(["a"])
    assert queue.stats().inflight == 0
    assert [i.memory_id for i in queue.take(1, wait=1.0)] == ["a"]
    queue.done(["a"])
    assert queue.is_idle(include_delayed=True)


def test_adopt_items_keeps_attempts_and_leaves_in_flight_ids_alone(make_queue: MakeQueue) -> None:
    """Start-up recovery: a process starting beside one that works on "a" must not queue "a" again."""
    queue = make_queue()
    queue.put("a")
    queue.take(1)
    assert queue.adopt_items([WorkItem("a", 1), WorkItem("b", 2), WorkItem("c", 0)]) == 2
    assert queue.adopt_items([WorkItem("b", 5)]) == 0  # queued already
    assert {i.memory_id: i.attempts for i in queue.take(5)} == {"b": 2, "c": 0}
