"""Helpers shared by the test modules: storing a memory through the API, polling with a
deadline, and a fake monotonic clock for the work queues.

- `store` / `store_body`: POST /memory through a Flask test client (or an app), asserting 201.
- `wait_until`: poll a condition until it holds, failing with a message at the deadline; the
  one way tests wait for state that another thread or process changes (never a bare sleep).
- `FakeClock`: a monotonic clock that moves only when told, passed to `create_app(clock=...)`
  (or a `WorkQueue`) so a test advances past a retry delay instead of sleeping through it.
- `settle`: run both workers in the test's thread until neither queue holds anything.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from loci.model import Memory
from loci.services import Services

ROOT = Path(__file__).resolve().parent.parent
"""The repository's root."""

DEFAULT_CONTENT = "something worth keeping"

PAST_ANY_RETRY = 3600.0
"""Seconds to advance a FakeClock so that every scheduled retry is due."""


def store_body(
    target: Flask | FlaskClient,
    content: str = DEFAULT_CONTENT,
    *,
    headers: Mapping[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Store one memory through POST /memory and return the response body (asserts 201)."""
    client = target.test_client() if isinstance(target, Flask) else target
    response = client.post("/memory", json={"content": content, **fields}, headers=dict(headers or {}))
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json
    return body


def store(
    target: Flask | FlaskClient,
    content: str = DEFAULT_CONTENT,
    *,
    headers: Mapping[str, str] | None = None,
    **fields: Any,
) -> str:
    """Store one memory through POST /memory and return its id (asserts 201)."""
    return str(store_body(target, content, headers=headers, **fields)["memory_id"])


def wait_until(
    condition: Callable[[], object], timeout: float = 30.0, *, what: str = "condition", every: float = 0.05
) -> None:
    """Poll `condition` every `every` seconds until it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(every)


class FakeClock:
    """A monotonic clock that moves only when the test advances it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def settle(svc: Services, clock: FakeClock | None = None, rounds: int = 10) -> None:
    """Run both workers in this thread until neither queue holds anything (enrichment re-queues
    payload refreshes for embedding). With a `clock`, each round moves it past any retry delay;
    without one, work left waiting for a retry fails the test."""
    for _ in range(rounds):
        svc.embedding_worker.drain()  # first: a fault scripted for the embedding call meets it, not the classifier
        svc.enrichment_worker.drain()
        stats = svc.embedding_queue.stats(), svc.enrichment_queue.stats()
        if all(s.pending == 0 and s.inflight == 0 for s in stats):
            return
        if any(s.depth for s in stats):
            continue  # queued by the other worker meanwhile (a payload refresh)
        assert clock is not None, f"work left waiting for a retry: {stats}"
        clock.advance(PAST_ANY_RETRY)
    raise AssertionError(f"the workers did not settle in {rounds} rounds")


def make_memory(content: str, **fields: Any) -> Memory:
    """A Memory built in the test (not stored), with the defaults a store would give; `fields` override."""
    stamp = fields.pop("timestamp", "2026-01-10T12:00:00+00:00")
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "content": content,
        "type": "Context",
        "confidence": 0.6,
        "importance": 0.5,
        "timestamp": stamp,
        "updated_at": stamp,
        "last_accessed": stamp,
        "t_valid": stamp,
    }
    values.update(fields)
    return Memory(**values)
