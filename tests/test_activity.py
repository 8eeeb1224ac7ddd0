"""RequestActivity: background work gives way to running requests, but only for a bounded time."""

from __future__ import annotations

import threading
import time

from flask.testing import FlaskClient

from loci.activity import QUIET_SECONDS, RequestActivity
from loci.services import Services


def test_no_requests_no_wait() -> None:
    assert RequestActivity().wait_for_quiet(5.0) < 1.0


def test_a_running_request_holds_work_back_until_it_ends() -> None:
    activity = RequestActivity()
    activity.begin()
    threading.Timer(0.2, activity.end).start()
    waited = activity.wait_for_quiet(5.0)
    assert 0.2 <= waited < 2.0 and waited >= 0.2 + QUIET_SECONDS * 0.9


def test_never_longer_than_the_limit() -> None:
    activity = RequestActivity()
    activity.begin()  # a request that never ends
    started = time.monotonic()
    activity.wait_for_quiet(0.15)
    assert 0.15 <= time.monotonic() - started < 2.0


def test_api_requests_are_counted_but_probes_are_not(client: FlaskClient, services: Services) -> None:
    seen: list[int] = []
    original = services.activity.begin

    def begin() -> None:
        original()
        seen.append(services.activity.active)

    services.activity.begin = begin  # type: ignore[method-assign]
    client.get("/health")
    client.get("/metrics")
    assert seen == []
    client.post("/memory", json={"content": "counted"})
    assert seen == [1] and services.activity.active == 0
