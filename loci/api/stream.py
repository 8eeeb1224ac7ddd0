"""Live events as server-sent events: memory stored, enrichment start/complete/failed, consolidation runs.

Each event is a `data: {"type", "timestamp", "data"}` line; an idle stream gets a
`: keepalive` comment every STREAM_KEEPALIVE_SECONDS. At most STREAM_MAX_SUBSCRIBERS
streams are open at once; beyond that: 503 with Retry-After. Under gunicorn each stream
runs in a thread pool of its own, never on a request thread (loci/serving/worker.py), and
looks at its socket every CLOSED_CHECK_SECONDS, so a client that went away frees its slot
within about a second.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, request

from loci.api.inputs import services
from loci.errors import StoreUnavailable
from loci.events import Subscription, TooManySubscribers

bp = Blueprint("stream", __name__)

CLOSED_CHECK_SECONDS = 1.0
"""How often an idle stream checks whether its client is still connected."""


@bp.get("/stream")
def stream() -> Any:
    svc = services()
    try:
        subscription = svc.events.subscribe()
    except TooManySubscribers as exc:
        raise StoreUnavailable(str(exc)) from None
    response = Response(
        _events(subscription, svc.settings.stream_keepalive_seconds, request.environ.get("gunicorn.socket")),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    response.call_on_close(subscription.close)  # also when the stream never started
    return response


def _events(subscription: Subscription, keepalive: float, client: socket.socket | None) -> Iterator[str]:
    with subscription:  # closed when the client goes away (the generator is closed)
        yield ": connected\n\n"
        last_sent = time.monotonic()
        while not _client_gone(client):
            event = subscription.get(min(keepalive, CLOSED_CHECK_SECONDS))
            if event is not None:
                yield f"data: {json.dumps(event.as_dict())}\n\n"
            elif time.monotonic() - last_sent >= keepalive:
                yield ": keepalive\n\n"
            else:
                continue
            last_sent = time.monotonic()


def _client_gone(client: socket.socket | None) -> bool:
    """True once the client closed its end (readable with nothing to read). Without the socket
    (another server), a departed client shows only when a write fails."""
    if client is None:
        return False
    try:
        readable, _, _ = select.select([client], [], [], 0)
        return bool(readable) and client.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


@bp.get("/stream/status")
def status() -> Any:
    bus = services().events
    return jsonify({"subscribers": bus.subscribers, "max_subscribers": bus.max_subscribers, "dropped": bus.dropped})
