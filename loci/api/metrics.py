"""GET /metrics: Prometheus text format (provider calls, latency, errors; queues; stores)."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from loci.api.inputs import services

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(services().metrics.registry), mimetype=CONTENT_TYPE_LATEST)
