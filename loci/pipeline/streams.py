"""StreamQueue: a pipeline queue in Redis Streams on FalkorDB's own server, shared by a fleet.

The same rules as WorkQueue (loci/pipeline/queue.py), across every process that opens the
same queue: an id is queued once; it is in one consumer's hands at a time, and an id put
again while in flight waits for its owner's `done`; a retry is a delayed entry (a time on
the server's clock), and leaves the id in flight until `done`; an isolated retry is
handed out alone; `adopt` queues only ids that are neither queued nor in flight anywhere.

How (keys and scripts: loci/pipeline/stream_scripts.py):
- a stream with one consumer group; each process is one consumer (`consumer`);
- `take` is one script (promote due retries, reclaim a dead consumer's entries, read new
  ones, mark them in flight), then, if that found nothing, one blocking group read
  (XREADGROUP COUNT max_items BLOCK ...): the embedding stage's size-and-timeout batch;
- a taken entry stays in the consumer's pending entries list until `done` (XACK, XDEL);
- an entry idle longer than `visibility_timeout` belonged to a consumer that died: the next
  `take` anywhere reclaims it (XAUTOCLAIM) and queues its id again. A live consumer keeps its
  entries fresh from a heartbeat thread (XCLAIM ... JUSTID every third of the timeout), so a
  long batch is never reclaimed while its process lives.

A reclaimed id uses no attempt: the stage's own bookkeeping on the memory's node counts
failures; a process that dies does not say which memory (if any) killed it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from loci.errors import GraphUnavailable, StoreTimeout
from loci.pipeline import stream_scripts as scripts
from loci.pipeline.queue import QueueStats, WorkItem

log = logging.getLogger(__name__)

GROUP = "loci"
"""The consumer group every process joins (one group per stream: the stage's workers)."""
VISIBILITY_TIMEOUT_SECONDS = 60.0
"""How long an entry may sit unacknowledged, without a heartbeat, before another consumer reclaims it."""
BLOCK_SLICE_SECONDS = 0.2
"""Longest single blocking read: a retry falling due or a dead consumer's entries are looked for between
slices (a blocking read wakes only for new entries)."""
PUT_CHUNK = 500
"""Ids per put script: each script holds the server for its duration, so long lists go in chunks."""
PROMOTE_MAX = 1000
"""Due retries moved into the stream per take, at most (the rest at the next take)."""
CONSUMER_FORGET_SECONDS = 3600.0
"""A consumer with nothing pending, silent this long (a process that stopped), is removed from the group."""

T = TypeVar("T")


@dataclass(frozen=True)
class ConsumerInfo:
    """One consumer of a queue's group, for /health's fleet view."""

    name: str
    pending: int
    """Entries it holds (taken, not yet done)."""
    idle_ms: int
    """Since its last read or heartbeat."""


def default_consumer() -> str:
    """A consumer name unique to this process: host, pid and a random suffix (a restart is a new consumer)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class StreamQueue:
    """A work queue in Redis Streams (see the module docstring); the methods of `loci.pipeline.queue.Queue`."""

    def __init__(
        self,
        client: redis.Redis,
        key_prefix: str,
        name: str,
        *,
        consumer: str,
        visibility_timeout: float = VISIBILITY_TIMEOUT_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`clock`, for tests only: how far it has moved since now is added to the server's time."""
        if " " in consumer:
            raise ValueError(f"consumer name {consumer!r} must not contain spaces")
        self.name, self.consumer = name, consumer
        self.visibility_timeout = visibility_timeout
        self._redis = client
        base = f"{{{key_prefix}}}:queue:{name}"
        self.keys = [f"{base}:{part}" for part in ("stream", "pending", "delayed", "parked", "isolated", "inflight")]
        self._clock, self._clock_start = clock, clock() if clock else 0.0
        self._scripts = {
            script: client.register_script(getattr(scripts, script))
            for script in ("PUT", "RETRY", "TAKE", "CLAIM", "DONE", "STATS")
        }
        self._held: dict[str, str] = {}  # memory id -> entry id, for the ids this process has in flight
        self._lock = threading.Lock()
        self._cursor = "0-0"  # where the next reclaim scan of the pending entries list starts
        self._closed = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._call(self._ensure_group)

    @property
    def stream(self) -> str:
        return self.keys[0]

    # --- producers
    def put(self, memory_id: str, *, attempts: int = 0, delay: float = 0.0) -> bool:
        """Queue an id; False if it is already queued."""
        return self.put_many([memory_id], attempts=attempts, delay=delay) == 1

    def put_many(self, ids: Iterable[str], *, attempts: int = 0, delay: float = 0.0) -> int:
        """Queue several ids at once; returns how many were new."""
        return self.put_items((WorkItem(memory_id, attempts) for memory_id in ids), delay=delay)

    def put_items(self, items: Iterable[WorkItem], *, delay: float = 0.0) -> int:
        """Queue items keeping their attempt counts (start-up recovery); returns how many were new."""
        return self._put(items, delay, skip_inflight=False)

    def adopt(self, ids: Iterable[str]) -> int:
        """Queue ids neither queued nor in flight anywhere in the fleet; returns how many."""
        return self.adopt_items(WorkItem(memory_id) for memory_id in ids)

    def adopt_items(self, items: Iterable[WorkItem]) -> int:
        """`adopt`, keeping each item's attempts: start-up recovery, so processes starting at once
        (or next to running ones) queue each unfinished memory once and leave in-flight ones alone."""
        return self._put(items, 0.0, skip_inflight=True)

    def _put(self, items: Iterable[WorkItem], delay: float, *, skip_inflight: bool) -> int:
        added = 0
        for chunk in _chunks(items, PUT_CHUNK):
            args: list[Any] = [self._offset_ms(), _ms(delay), int(skip_inflight)]
            for item in chunk:
                args += [item.memory_id, item.attempts]
            added += int(self._run("PUT", args))
        return added

    # --- consumers
    def take(self, max_items: int, *, wait: float = 0.0, linger: float = 0.0) -> list[WorkItem]:
        """Take up to `max_items` ready ids, marking them in flight across the fleet.

        Waits up to `wait` seconds for a first id (in blocking group reads). A lone id is
        returned at once; when several came together, it keeps reading while more keep
        arriving within `linger / 5` of each other, for at most `linger` seconds.
        """
        deadline = time.monotonic() + wait
        batch, closed = self._take_now(max_items)
        while not batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            batch, closed, _ = self._read_blocking(max_items, min(remaining, BLOCK_SLICE_SECONDS), joining=0)
            if not batch:
                batch, closed = self._take_now(max_items)
        if len(batch) > 1 and linger > 0 and not closed:
            self._linger(batch, max_items, linger)
        return batch

    def _linger(self, batch: list[WorkItem], max_items: int, linger: float) -> None:
        gap = max(linger / 5, 0.001)
        stop_at = time.monotonic() + linger
        while len(batch) < max_items:
            remaining = stop_at - time.monotonic()
            if remaining <= 0:
                return
            more, closed, arrived = self._read_blocking(max_items - len(batch), min(gap, remaining), joining=len(batch))
            batch.extend(more)
            if not arrived or closed:
                return  # nothing arrived within the gap (the burst is over), or an isolated id ends the batch

    def _take_now(self, max_items: int) -> tuple[list[WorkItem], bool]:
        args = [self._offset_ms(), GROUP, self.consumer, max_items, _ms(self.visibility_timeout), self._cursor]
        reply = self._run("TAKE", [*args, PROMOTE_MAX])
        self._cursor = str(reply[0])
        return self._hold(reply)

    def _read_blocking(self, count: int, seconds: float, *, joining: int) -> tuple[list[WorkItem], bool, int]:
        """One blocking group read of new entries, then the claim script on what it returned:
        (the ids now ours, whether an isolated id closed the batch, how many entries arrived)."""
        block_ms = max(int(seconds * 1000), 1)  # BLOCK 0 would mean forever
        read: Any = self._call(  # RESP2: [[stream, [(entry id, {field: value})]]], or [] after the block
            lambda: self._redis.xreadgroup(GROUP, self.consumer, {self.stream: ">"}, count=count, block=block_ms)
        )
        entries: list[tuple[str, dict[str, str]]] = read[0][1] if read else []
        if not entries:
            return [], False, 0
        args: list[Any] = [self._offset_ms(), GROUP, self.consumer, _ms(self.visibility_timeout), joining]
        for entry_id, fields in entries:
            args += [entry_id, fields.get("id", ""), fields.get("attempts", "0")]
        return (*self._hold(self._run("CLAIM", args)), len(entries))

    def _hold(self, reply: list[Any]) -> tuple[list[WorkItem], bool]:
        """Note the claimed (memory id, attempts, entry id) triples of a take or claim reply as ours."""
        closed, flat = bool(int(reply[1])), reply[2:]
        batch = [WorkItem(str(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 3)]
        if batch:
            with self._lock:
                for i in range(0, len(flat), 3):
                    self._held[str(flat[i])] = str(flat[i + 2])
            self._start_heartbeat()
        return batch, closed

    def done(self, ids: Iterable[str]) -> None:
        """This process has finished with these ids (whatever the outcome)."""
        with self._lock:
            pairs = [(memory_id, self._held.pop(memory_id)) for memory_id in ids if memory_id in self._held]
        if pairs:
            self._run("DONE", [GROUP, self.consumer, *(value for pair in pairs for value in pair)])

    def retry(self, item: WorkItem, delay: float, *, isolate: bool = False) -> None:
        """Queue an in-flight id again, to be taken no sooner than `delay` seconds from now (alone,
        if `isolate`). It stays in flight until its owner's `done`."""
        self._run("RETRY", [self._offset_ms(), _ms(delay), item.memory_id, item.attempts, int(isolate)])

    # --- the claim on a long batch
    def heartbeat(self) -> list[str]:
        """Reset the idle time of every entry this process holds, so none is reclaimed while it
        lives; returns the ids whose claim was lost (reclaimed after a stall longer than the timeout)."""
        with self._lock:
            held = dict(self._held)
        if not held:
            return []
        kept = set(
            self._call(
                lambda: self._redis.xclaim(self.stream, GROUP, self.consumer, 0, list(held.values()), justid=True)
            )
        )
        lost = [memory_id for memory_id, entry_id in held.items() if entry_id not in kept]
        if lost:
            with self._lock:
                for memory_id in lost:
                    if self._held.get(memory_id) == held[memory_id]:
                        del self._held[memory_id]
            log.warning(
                "claim lost: entries reclaimed by another consumer",
                extra={"event": "queue.claim_lost", "queue": self.name, "memory_ids": lost[:20], "count": len(lost)},
            )
        return lost

    def _start_heartbeat(self) -> None:
        with self._lock:
            if self._heartbeat is not None or self._closed.is_set():
                return
            self._heartbeat = threading.Thread(target=self._beat, name=f"loci-{self.name}-heartbeat", daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        beats = 0
        while not self._closed.wait(self.visibility_timeout / 3):
            try:
                self.heartbeat()
                beats += 1
                if beats % 30 == 0:
                    self.forget_consumers(CONSUMER_FORGET_SECONDS)
            except Exception:  # the loop's edge: a store outage must not end the heartbeat
                log.exception("queue heartbeat failed", extra={"event": "queue.heartbeat_failed", "queue": self.name})

    def close(self) -> None:
        """Stop the heartbeat (ids still held are reclaimed by others after the visibility timeout)."""
        self._closed.set()
        if self._heartbeat is not None:
            self._heartbeat.join(5)

    # --- observation
    def stats(self) -> QueueStats:
        """Across the fleet: depth (ready now), delayed, pending (queued, not taken) and in flight."""
        depth, delayed, pending, inflight = (int(value) for value in self._run("STATS", [GROUP]))
        return QueueStats(depth, delayed, pending, inflight)

    def is_idle(self, *, include_delayed: bool = False) -> bool:
        """Nothing ready and nothing in flight anywhere (and, if asked, nothing waiting to retry)."""
        stats = self.stats()
        busy = stats.depth > 0 or stats.inflight > 0
        return not busy and (not include_delayed or stats.delayed == 0)

    def consumers(self) -> list[ConsumerInfo]:
        """Every consumer in the group: what it holds and how long since it was last heard from."""
        rows = self._call(lambda: self._redis.xinfo_consumers(self.stream, GROUP))
        return [ConsumerInfo(str(row["name"]), int(row["pending"]), int(row["idle"])) for row in rows]

    def forget_consumers(self, idle_seconds: float) -> list[str]:
        """Remove consumers holding nothing and silent for `idle_seconds` (stopped processes); their names."""
        gone = [c.name for c in self.consumers() if c.pending == 0 and c.idle_ms > idle_seconds * 1000]
        for name in gone:
            if name != self.consumer:
                self._call(lambda name=name: self._redis.xgroup_delconsumer(self.stream, GROUP, name))  # type: ignore[misc]
        return gone

    # --- plumbing
    def _offset_ms(self) -> int:
        return _ms(self._clock() - self._clock_start) if self._clock else 0

    def _ensure_group(self) -> None:
        try:
            self._redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _run(self, script: str, args: list[Any]) -> Any:
        return self._call(lambda: self._scripts[script](keys=self.keys, args=args))

    def _call(self, command: Callable[[], T]) -> T:
        """Run one command, mapping connection failures to Loci's errors; a stream or group removed
        behind our back (a namespace dropped and written again) is recreated once."""
        where = f"FalkorDB queue {self.name!r}"
        try:
            try:
                return command()
            except redis.exceptions.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self._ensure_group()
                return command()
        except redis.exceptions.TimeoutError as exc:
            raise StoreTimeout(f"{where} did not answer in time: {exc}") from exc
        except redis.exceptions.ConnectionError as exc:
            raise GraphUnavailable(f"{where} is unreachable: {exc}") from exc


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
