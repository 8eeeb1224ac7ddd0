"""/mcp: the MCP server (loci/mcp/tools.py) over the SDK's streamable HTTP transport, inside the Flask app.

The SDK's transport is an ASGI app; `a2wsgi` runs it on an asyncio loop of its own (one thread,
started on the first /mcp request) and the Flask view below hands it the request's WSGI
environ. Being a Flask route, /mcp passes the same `before_request` hooks as every route: the
API token (401 without it when one is set), the loopback rule when none is, the query-string
checks. Each tool then calls the REST API in process with the caller's credentials
(`LociApi.in_process`), so it is validated and authorized like any other client's request.

The transport is stateless and answers JSON (`stateless_http=True, json_response=True`): every
POST carries its own call and gets one JSON answer, no session or server-to-client stream is
held between requests, and any worker can take any request. Only POST is routed: a stateless server
has nothing to send on the server-to-client GET stream, which would only hold a request thread open,
nor a session to DELETE, so both are the API's 405. The SDK checks Host and Origin against
DNS rebinding only when no token is set (the service is then open to this machine, and a web
page could otherwise reach it through a rebound name); with a token, the token is the guard.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

from a2wsgi import ASGIMiddleware
from flask import Blueprint, Flask, Response, current_app, request
from mcp.server.mcpserver import Context
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from loci.api.errors import envelope
from loci.config import Settings
from loci.mcp.api import LociApi
from loci.mcp.tools import build_server

log = logging.getLogger(__name__)

bp = Blueprint("mcp", __name__)
MCP_PATH = "/mcp"
EXTENSION = "loci.mcp"
LOCAL_HOSTS = TransportSecuritySettings(
    enable_dns_rebinding_protection=True,
    allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"],
    allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
)


class McpBridge:
    """The SDK's streamable HTTP app on its own event loop, callable as a WSGI app."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        def connect(ctx: Context) -> LociApi:
            peer = ctx.request_context.request
            client = getattr(peer, "client", None)
            return LociApi.in_process(app, ctx.headers, client.host if client else "127.0.0.1")

        server = build_server(connect)
        asgi = server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            json_response=True,
            stateless_http=True,
            max_request_body_size=settings.max_request_bytes,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False)
            if settings.api_token or settings.tokens_file
            else LOCAL_HOSTS,
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="loci-mcp", daemon=True)
        self.thread.start()
        ready: Future[None] = Future()
        asyncio.run_coroutine_threadsafe(self._run_sessions(server.session_manager, ready), self.loop)
        ready.result(timeout=30)
        # a2wsgi types its app parameter with its own TypedDict scopes; Starlette's app takes the same
        # dicts typed as MutableMapping, so the two signatures do not unify for mypy
        self.wsgi = ASGIMiddleware(asgi, loop=self.loop)  # type: ignore[arg-type]
        log.info("mcp server started", extra={"event": "mcp.started", "path": MCP_PATH})

    async def _run_sessions(self, manager: StreamableHTTPSessionManager, ready: Future[None]) -> None:
        """The session manager's task group, which serves every request, for the life of the process
        (what the ASGI lifespan would do; a2wsgi runs no lifespan)."""
        async with manager.run():
            ready.set_result(None)
            await asyncio.Event().wait()


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[EXTENSION] = _Lazy(app, settings)
    app.register_blueprint(bp)


class _Lazy:
    """The bridge, started on the first /mcp request: no loop thread in a process that never serves MCP."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        self.app, self.settings = app, settings
        self.lock = threading.Lock()
        self.bridge: McpBridge | None = None

    def get(self) -> McpBridge:
        with self.lock:
            if self.bridge is None:
                self.bridge = McpBridge(self.app, self.settings)
            return self.bridge


@bp.post(MCP_PATH)
def mcp() -> Response:
    """The MCP streamable HTTP endpoint (authenticated by the API's before_request hooks)."""
    bridge: McpBridge = current_app.extensions[EXTENSION].get()
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started.update(status=status, headers=headers)

    # werkzeug's environ is a dict[str, Any]; a2wsgi declares its own TypedDict Environ for the same object
    chunks: Iterator[bytes] = iter(bridge.wsgi(request.environ, start_response))  # type: ignore[arg-type]
    first = [chunk for chunk in _until_started(chunks, started)]
    code = int(started["status"].split(" ", 1)[0])
    kind = next((value for name, value in started["headers"] if name.lower() == "content-type"), "")
    if code >= 400 and not kind.startswith("application/json"):
        # the SDK's own refusals (Content-Type, Host, Origin, body size) are plain text: the API's envelope instead
        message = b"".join(_chain(first, chunks)).decode(errors="replace").strip()
        response, _ = envelope(code, message or started["status"])
        response.status_code = code
        return response
    return Response(_chain(first, chunks), status=started["status"], headers=started["headers"])


def _until_started(chunks: Iterator[bytes], started: dict[str, Any]) -> Iterator[bytes]:
    """The body chunks read before the status is known (a2wsgi calls start_response while iterated)."""
    for chunk in chunks:
        yield chunk
        if started:
            return


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest
