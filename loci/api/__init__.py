"""The HTTP API: one blueprint per resource, plus auth and error rendering.

Views read top to bottom: parse and validate (`loci.schemas`, helpers for the current
request in `loci.api.inputs`), call the store or queue (`loci.writes`, `loci.recall`),
respond.
"""

from __future__ import annotations

from flask import Flask, g, request

from loci.api import (
    admin,
    associations,
    auth,
    backup,
    consolidation,
    cors,
    enrichment,
    entities,
    errors,
    graph,
    health,
    insights,
    mcp,
    memory,
    metrics,
    namespaces,
    openapi,
    recall,
    storage,
    stream,
    ui,
)
from loci.api.inputs import check_query_string
from loci.runtime import Runtime
from loci.services import Services


def init_app(app: Flask, runtime: Runtime) -> None:
    svc = runtime.default
    app.extensions["loci"] = svc  # the default namespace (tests and scripts reach the stores through it)
    app.extensions["loci.runtime"] = runtime
    errors.init_app(app)
    cors.init_app(app, svc.settings)
    auth.init_app(app, runtime)
    storage.init_app(app, svc)  # 507 for writes below the free-space reserve, after auth
    app.before_request(check_query_string)
    _track_activity(app, svc)
    blueprints = (
        health, memory, associations, recall, enrichment, entities, admin, consolidation, insights, stream, metrics
    )  # fmt: skip
    for module in (*blueprints, graph, ui, backup, namespaces, openapi):
        app.register_blueprint(module.bp)
    mcp.init_app(app, svc.settings)  # /mcp, the MCP server over this API


UNTRACKED_ENDPOINTS = frozenset(
    {
        "health.health",
        "metrics.metrics",
        "stream.stream",
        "stream.status",
        "openapi.document",
        "openapi.docs",
        "static",
        "backup.backup",
    }
)
"""Probes, scrapes, the API's own documentation, the long-lived event stream and a backup (which may take
minutes) do not hold background work back."""


def _track_activity(app: Flask, svc: Services) -> None:
    """Count requests in flight, so the workers give way to them (loci/activity.py)."""

    @app.before_request
    def _begin() -> None:
        if request.endpoint not in UNTRACKED_ENDPOINTS:
            svc.activity.begin()
            g.tracked = True

    @app.teardown_request
    def _end(_: BaseException | None) -> None:
        if g.pop("tracked", False):
            svc.activity.end()
