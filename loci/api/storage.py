"""Refuse writes with 507 while free disk space is below LOCI_MIN_FREE_BYTES; reads keep working.

One `before_request` hook, so no view has to remember it. It runs after authentication
(an unauthenticated client learns nothing from a 507) and refuses every request that changes
stored data, before anything is read from its body or written:
- POST, PUT and PATCH, except those that only read: `POST /memory/status`, any recall route,
  and a dry run (`"dry_run": true`, the default of `POST /consolidate`) of consolidation,
  sync or re-embedding;
- DELETE as well. A delete appends to FalkorDB's append-only file and Qdrant's log before
  any space comes back (only a later compaction returns it), so it does not free the disk,
  and half done on a full disk it could come back after a restart.
Unknown routes and wrong methods fall through to their own 404 and 405.
"""

from __future__ import annotations

from flask import Flask, request

from loci.services import Services

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_ONLY_ENDPOINTS = frozenset({"memory.status_by_body"})
"""Endpoints that take a POST but only read."""
READ_ONLY_BLUEPRINTS = frozenset({"recall", "mcp"})
"""/mcp's tools call the API in process, where each write is checked like any other."""
DRY_RUN_DEFAULTS = {"consolidation.consolidate": True, "admin.sync": False, "admin.reembed": False}
"""Endpoints with a `dry_run` flag, and its default when the body leaves it out (loci/schemas/admin.py)."""


def init_app(app: Flask, svc: Services) -> None:
    @app.before_request
    def _refuse_writes_when_disk_low() -> None:
        if writes(request.method, request.endpoint, request.blueprint):
            svc.disk.require_room()


def writes(method: str, endpoint: str | None, blueprint: str | None) -> bool:
    """True if this request may change stored data."""
    if method not in WRITE_METHODS or endpoint is None:
        return False
    if endpoint in READ_ONLY_ENDPOINTS or blueprint in READ_ONLY_BLUEPRINTS:
        return False
    if endpoint in DRY_RUN_DEFAULTS:
        return not _dry_run(DRY_RUN_DEFAULTS[endpoint])
    return True


def _dry_run(default: bool) -> bool:
    """The body's `dry_run` flag (a strict boolean, as the views parse it); a body that is
    not a JSON object counts as no dry run."""
    if not request.get_data(cache=True).strip():
        return default
    body = request.get_json(force=True, silent=True, cache=True)
    if not isinstance(body, dict):
        return False
    return body.get("dry_run", default) is True
