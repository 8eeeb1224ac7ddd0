"""Authentication and namespaces: who a request acts as, and in which namespace.

A token guards every route but /health, the API docs (/openapi.json, /docs and their files)
and the memory browser's page and files (/ui/*, /viewer/*: no data in them). Each token
stands for a namespace and a role (loci/namespaces.py): AUTOMEM_API_TOKEN writes in
`default`; LOCI_TOKENS_FILE adds tokens of other namespaces and roles. A `read` token is
refused anything that writes (403). An `admin` token, or any valid token sent with the
admin token (ADMIN_API_TOKEN as X-Admin-Token, as AutoMem's admin routes want), may choose
any namespace with `X-Loci-Namespace`; other tokens may only name their own. An admin's
read of a namespace that does not exist is a 404; its first write creates it.

API token: `Authorization: Bearer <token>`, `X-API-Key: <token>` or `?api_key=<token>`.
Admin token: `X-Admin-Token`, `X-Admin-Api-Key` or `?admin_token=`. All are compared in
constant time. With no token configured the API is open to this machine only: the
service listens on 127.0.0.1 (see `Settings.bind_host`), and whatever address it was
bound to, a client from any other address gets 403.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Flask, current_app, g, request

from loci.api.storage import writes
from loci.config import Settings
from loci.errors import Forbidden, InvalidRequest, NotFound, Unauthorized
from loci.namespaces import DEFAULT, NAME_PATTERN, Principal, Role, valid_name
from loci.runtime import Runtime

P = ParamSpec("P")
R = TypeVar("R")

NAMESPACE_HEADER = "X-Loci-Namespace"
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


def init_app(app: Flask, runtime: Runtime) -> None:
    settings, tokens = runtime.settings, runtime.tokens

    @app.before_request
    def _authenticate() -> None:
        if not tokens.required and not is_local(request.remote_addr):
            raise Forbidden(
                "No API token is configured (AUTOMEM_API_TOKEN or LOCI_TOKENS_FILE), so only clients on this "
                "machine are served"
            )
        g.principal, g.namespace = Principal(), DEFAULT
        if request.method == "OPTIONS" or request.endpoint in OPEN_ENDPOINTS:
            return
        admin_token = settings.admin_token
        with_admin_token = admin_token is not None and _matches(admin_token_from_request(), admin_token)
        principal = tokens.principal(api_token_from_request()) if tokens.required else Principal()
        if principal is None:
            if request.endpoint in ADMIN_ONLY_ENDPOINTS:
                principal = Principal()  # the route itself asks for the admin token
            else:
                raise Unauthorized("Unauthorized")
        if with_admin_token:
            principal = principal.model_copy(update={"role": Role.ADMIN})
        g.principal, g.namespace = principal, _namespace(runtime, principal, open_api=not tokens.required)
        if principal.role is Role.READ and not reads_only():
            raise Forbidden(f"This token may only read (namespace {principal.namespace!r})")


def _namespace(runtime: Runtime, principal: Principal, *, open_api: bool) -> str:
    """The namespace a request acts in: its token's, or the one it names if it may choose."""
    wanted = request.headers.get(NAMESPACE_HEADER)
    if wanted is None or wanted == principal.namespace:
        return principal.namespace
    if not valid_name(wanted):
        raise InvalidRequest(f"{NAMESPACE_HEADER} must match {NAME_PATTERN.pattern}", field=NAMESPACE_HEADER)
    if not (principal.admin or open_api):
        raise Forbidden(f"This token may act only in namespace {principal.namespace!r}")
    if reads_only() and not runtime.exists(wanted):
        raise NotFound(f"No namespace {wanted!r} (a namespace is created by its first write)")
    return wanted


def reads_only() -> bool:
    """Nothing stored changes (loci/api/storage.py's rule; /mcp's writing tools are checked inside)."""
    return not writes(request.method, request.endpoint, request.blueprint)


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
    """Pass an admin (an `admin` token, or the admin token beside a valid one); otherwise 403 when no admin
    token is configured at all, 401 when the request's is missing or wrong."""
    principal: Principal | None = g.get("principal")
    if principal is not None and principal.admin:
        return
    if not settings.admin_token and not settings.tokens_file:
        raise Forbidden("Admin token not configured")
    raise Unauthorized("Admin authorization required")


def require_admin(view: Callable[P, R]) -> Callable[P, R]:
    """Route decorator: the admin role (see check_admin)."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        check_admin(current_app.extensions["loci"].settings)
        return view(*args, **kwargs)

    return wrapper
