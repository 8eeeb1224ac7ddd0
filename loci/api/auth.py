"""Authentication: the API token guards every route but /health, the API docs (/openapi.json, /docs
and their files) and the memory browser's page and files (/ui/*, /viewer/*: no data in them);
admin routes also need the admin token.

API token: `Authorization: Bearer <token>`, `X-API-Key: <token>` or `?api_key=<token>`.
Admin token: `X-Admin-Token`, `X-Admin-Api-Key` or `?admin_token=`. Both are compared in
constant time. With no API token configured the API is open to this machine only: the
service listens on 127.0.0.1 (see `Settings.bind_host`), and whatever address it was
bound to, a client from any other address gets 403.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Flask, current_app, request

from loci.config import Settings
from loci.errors import Forbidden, Unauthorized

P = ParamSpec("P")
R = TypeVar("R")

OPEN_ENDPOINTS = {
    *("health.health", "static", "openapi.document", "openapi.docs"),
    *("ui.root", "ui.index", "ui.asset", "ui.viewer_index", "ui.viewer_page"),
}
ADMIN_ONLY_ENDPOINTS = {"backup.backup"}
"""Routes that check the admin token themselves and need no API token (AutoMem's /backup)."""


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
        if not settings.api_token and not is_local(request.remote_addr):
            raise Forbidden(
                "No API token is configured (AUTOMEM_API_TOKEN), so only clients on this machine are served"
            )
        if request.method == "OPTIONS" or request.endpoint in OPEN_ENDPOINTS | ADMIN_ONLY_ENDPOINTS:
            return
        if settings.api_token and not _matches(api_token_from_request(), settings.api_token):
            raise Unauthorized("Unauthorized")


def is_local(address: str | None) -> bool:
    """A loopback peer, or none at all (a Unix socket)."""
    if not address:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 on a dual-stack socket
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def admin_token_from_request() -> str | None:
    return (
        request.headers.get("X-Admin-Token")
        or request.headers.get("X-Admin-Api-Key")
        or request.args.get("admin_token")
    )


def check_admin(settings: Settings) -> None:
    """403 when no admin token is configured, 401 when the request's is missing or wrong."""
    if not settings.admin_token:
        raise Forbidden("Admin token not configured")
    if not _matches(admin_token_from_request(), settings.admin_token):
        raise Unauthorized("Admin authorization required")


def require_admin(view: Callable[P, R]) -> Callable[P, R]:
    """Route decorator: the admin token as well as the API token."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        check_admin(current_app.extensions["loci"].settings)
        return view(*args, **kwargs)

    return wrapper
