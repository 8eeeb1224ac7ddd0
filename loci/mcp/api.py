"""LociApi: the REST API as the MCP tools see it, one call per route, over any httpx transport.

The tools (loci/mcp/tools.py) never touch the stores: every tool is one or two calls to the
same routes any client uses, so it gets the same validation, authentication and errors.
Two ways to reach them, one class:
- in process, for /mcp: httpx's WSGI transport calls the Flask app directly, with the
  credentials of the MCP request that carried the call (`in_process`);
- over HTTP, for `python -m loci mcp` on stdio: a running service at a URL, with a token
  (`over_http`).

An answer of 400 or more becomes a `ToolError` carrying the service's message and status, which
the SDK returns to the model as a tool error (`isError: true`), never as a transport failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from flask import Flask
from mcp.server.mcpserver.exceptions import ToolError

CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-admin-token", "x-admin-api-key", "x-loci-namespace")
"""The MCP request's headers passed on to the in-process API: the same token (and namespace), checked the
same way."""
TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class LociApi:
    """Calls of the REST API; each returns the JSON body, or raises ToolError with the service's message."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    @classmethod
    def in_process(cls, app: Flask, headers: Mapping[str, str] | None, remote_addr: str) -> LociApi:
        passed = {name: value for name, value in (headers or {}).items() if name.lower() in CREDENTIAL_HEADERS}
        transport = httpx.WSGITransport(app=app, remote_addr=remote_addr)
        return cls(httpx.Client(transport=transport, base_url="http://loci.internal", headers=passed))

    @classmethod
    def over_http(cls, url: str, token: str | None) -> LociApi:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return cls(httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=TIMEOUT))

    def call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        try:
            response = self.client.request(method, path, params=_query(params), json=body)
        except httpx.HTTPError as exc:
            raise ToolError(f"Loci at {self.client.base_url} could not be reached: {exc}") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code >= 400:
            message = answer.get("message") if isinstance(answer, dict) else None
            raise ToolError(f"{message or response.reason_phrase} (HTTP {response.status_code})")
        if not isinstance(answer, dict):
            raise ToolError(f"Loci answered {method} {path} with something other than a JSON object")
        return answer

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> LociApi:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _query(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Query parameters without the ones not given; lists comma-joined, booleans as true/false."""
    if params is None:
        return None
    query: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            query[name] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            query[name] = ",".join(str(item) for item in value)
        else:
            query[name] = value
    return query
