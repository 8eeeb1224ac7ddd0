"""Authentication: the API token guards every route but /health.

API token: `Authorization: Bearer <token>`, `X-API-Key: <token>` or `?api_key=<token>`,
compared in constant time. With no API token configured the API is open, and the service listens on
127.0.0.1 only (see `Settings.bind_host`).
"""

from __future__ import annotations

import hmac

from flask import Flask, request

from loci.config import Settings
from loci.errors import Unauthorized

OPEN_ENDPOINTS = {"health.health", "static"}


def _matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def api_token_from_request() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-API-Key") or request.args.get("api_key")


def init_app(app: Flask, settings: Settings) -> None:
    @app.before_request
    def _require_api_token() -> None:
        if request.method == "OPTIONS" or request.endpoint in OPEN_ENDPOINTS:
            return
        if settings.api_token and not _matches(api_token_from_request(), settings.api_token):
            raise Unauthorized("Unauthorized")
