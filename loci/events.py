"""EventBus: live events for `GET /stream` subscribers (server-sent events).

Publishers (the API, the workers, the scheduler) call `publish(type, data)`; each
subscriber has its own bounded queue, and an event for a subscriber whose queue is full
is dropped for that subscriber only, so a slow reader never holds anyone up. Events are
not stored: a subscriber sees what happens while it is connected.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any

from loci.timeutil import iso, utcnow

SUBSCRIBER_QUEUE_SIZE = 100


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any]
    timestamp: str

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "timestamp": self.timestamp, "data": self.data}


class TooManySubscribers(Exception):
    pass


class Subscription:
    """One subscriber's inbox; close it (or leave its `with` block) to stop receiving."""

    def __init__(self, bus: EventBus, inbox: queue.Queue[Event]) -> None:
        self._bus, self._inbox = bus, inbox

    def get(self, timeout: float) -> Event | None:
        """The next event, or None if none came within `timeout` seconds."""
        try:
            return self._inbox.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._bus._unsubscribe(self._inbox)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SubscriberSlots:
    """Room for open streams, shared by every namespace's bus: each open stream holds a request thread,
    so the process as a whole, not each namespace, must stay under STREAM_MAX_SUBSCRIBERS."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._taken = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._taken >= self.limit:
                return False
            self._taken += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._taken = max(0, self._taken - 1)


class EventBus:
    def __init__(self, max_subscribers: int = 8, slots: SubscriberSlots | None = None) -> None:
        self.max_subscribers = max_subscribers
        self._slots = slots or SubscriberSlots(max_subscribers)
        self._subscribers: set[queue.Queue[Event]] = set()
        self._lock = threading.Lock()
        self.dropped = 0

    def publish(self, kind: str, **data: Any) -> None:
        event = Event(kind, data, iso(utcnow()))
        with self._lock:
            subscribers = list(self._subscribers)
        for inbox in subscribers:
            try:
                inbox.put_nowait(event)
            except queue.Full:
                self.dropped += 1

    def subscribe(self) -> Subscription:
        """Start receiving every event published from now on; TooManySubscribers when full."""
        inbox: queue.Queue[Event] = queue.Queue(maxsize=SUBSCRIBER_QUEUE_SIZE)
        if not self._slots.take():
            raise TooManySubscribers(f"at most {self._slots.limit} stream subscribers")
        with self._lock:
            self._subscribers.add(inbox)
        return Subscription(self, inbox)

    def _unsubscribe(self, inbox: queue.Queue[Event]) -> None:
        with self._lock:
            if inbox not in self._subscribers:
                return
            self._subscribers.discard(inbox)
        self._slots.give_back()

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)
