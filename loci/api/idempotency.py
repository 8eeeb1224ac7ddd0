"""The `Idempotency-Key` header: a repeated store returns the first response instead of storing again."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request

from loci.api.inputs import services
from loci.errors import InvalidRequest, LociError
from loci.services import Services
from loci.stores.idempotency import Lease, Replay

log = logging.getLogger(__name__)

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
    svc = services()
    request_hash = hashlib.sha256(request.path.encode() + b"\0" + request.get_data()).hexdigest()
    lease = svc.requests.begin(key, request_hash)
    if lease is None:  # keys are off (IDEMPOTENCY_WINDOW_SECONDS=0)
        body, status = handler()
        return jsonify(body), status
    if isinstance(lease, Replay):
        response = jsonify(lease.body)
        response.headers["Idempotent-Replayed"] = "true"
        return response, lease.status
    try:
        body, status = handler()
    except Exception:
        _free(svc, lease)  # a failure frees the key for a retry
        raise
    try:
        svc.requests.finish(lease, request_hash, status, body)
    except LociError as exc:  # stored all the same: answer it; a repeat is de-duplicated once the marker lapses
        log.warning(
            "response not remembered for its Idempotency-Key",
            extra={"event": "idempotency.finish_failed", "error": exc.message},
        )
    return jsonify(body), status


def _free(svc: Services, lease: Lease) -> None:
    """Free a failed request's key; if the store does not answer, the settler frees it later (and
    its in-progress marker lapses after IN_PROGRESS_LEASE_SECONDS in any case)."""
    try:
        svc.requests.free(lease)
    except LociError:
        svc.settler.free_later(lease)
