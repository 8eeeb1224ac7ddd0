"""Live events as server-sent events: memory stored, enrichment start/complete/failed, consolidation runs.

Each event is a `data: {"type", "timestamp", "data"}` line; an idle stream gets a
`: keepalive` comment every STREAM_KEEPALIVE_SECONDS. At most STREAM_MAX_SUBSCRIBERS
streams are open at once (each holds a server thread); beyond that: 503.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify

from loci.api import services
from loci.errors import StoreUnavailable
from loci.events import Subscription, TooManySubscribers

bp = Blueprint("stream", __name__)


@bp.get("/stream")
def stream() -> Any:
    svc = services()
    try:
        subscription = svc.events.subscribe()
    except TooManySubscribers as exc:
        raise StoreUnavailable(str(exc)) from None
    response = Response(
        _events(subscription, svc.settings.stream_keepalive_seconds),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    response.call_on_close(subscription.close)  # also when the stream never started
    return response


def _events(subscription: Subscription, keepalive: float) -> Iterator[str]:
    with subscription:  # closed when the client goes away (the generator is closed)
        yield ": connected\n\n"
        while True:
            event = subscription.get(keepalive)
            yield f"data: {json.dumps(event.as_dict())}\n\n" if event else ": keepalive\n\n"


@bp.get("/stream/status")
def status() -> Any:
    bus = services().events
    return jsonify({"subscribers": bus.subscribers, "max_subscribers": bus.max_subscribers, "dropped": bus.dropped})
