"""Error rendering: every failure leaves as AutoMem's envelope `{"status":"error","code":N,"message":...}`.

One handler per family: Loci's own errors (with their status), werkzeug's HTTP errors
(404 unknown route, 405 wrong method, 413 body too large, 400 bad JSON), and anything
unexpected (500, traceback logged, no detail leaked).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from loci.errors import InsufficientStorage, LociError, StoreUnavailable

log = logging.getLogger(__name__)


def envelope(code: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"status": "error", "code": code, "message": message, **extra}), code


def init_app(app: Flask) -> None:
    @app.errorhandler(LociError)
    def _loci_error(exc: LociError) -> tuple[Response, int]:
        if isinstance(exc, StoreUnavailable):
            # an outage is logged once, where it is noticed (the server's supervisor, the workers), not per request
            response, status = envelope(exc.status, exc.message)
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
            return response, status
        if exc.status >= 500 and not isinstance(exc, InsufficientStorage):  # the disk guard logs a full disk once
            log.error(
                "request failed",
                extra={"event": "http.error", "status": exc.status, "path": request.path, "error": exc.message},
            )
        extra = {"field": exc.field} if exc.field else {}
        return envelope(exc.status, exc.message, **extra)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> tuple[Response, int]:
        limit = app.config.get("MAX_CONTENT_LENGTH")
        return envelope(413, f"Request body exceeds the limit of {limit} bytes (LOCI_MAX_REQUEST_BYTES)")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        response, status = envelope(code, exc.description or exc.name)
        for name, value in exc.get_headers():  # e.g. the Allow header a 405 must carry (RFC 9110)
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error", extra={"event": "http.unhandled", "path": request.path})
        return envelope(500, "Internal server error")
