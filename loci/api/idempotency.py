"""The `Idempotency-Key` header: a repeated store returns the first response instead of storing again."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request

from loci.api import services
from loci.errors import InvalidRequest

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def idempotent(handler: Callable[[], tuple[dict[str, Any], int]]) -> tuple[Response, int]:
    """Run a store handler once per Idempotency-Key (within the window); without a key, just run it."""
    key = request.headers.get(HEADER)
    if key is None:
        body, status = handler()
        return jsonify(body), status
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidRequest(f"Invalid '{HEADER}': 1 to {MAX_KEY_LENGTH} printable characters", field=HEADER)
    log = services().requests
    request_hash = hashlib.sha256(request.path.encode() + b"\0" + request.get_data()).hexdigest()
    replay = log.begin(key, request_hash)
    if replay is not None:
        response = jsonify(replay.body)
        response.headers["Idempotent-Replayed"] = "true"
        return response, replay.status
    try:
        body, status = handler()
    except Exception:
        log.finish(key, request_hash, 500, {})  # a failure frees the key for a retry
        raise
    log.finish(key, request_hash, status, body)
    return jsonify(body), status
