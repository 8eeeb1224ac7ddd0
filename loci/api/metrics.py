"""GET /metrics: Prometheus text format.

A namespace's own figures (memories stored, queues, open streams, labelled `namespace`),
and the process's (the embedding provider's calls, latency, errors) for an admin or in the
`default` namespace, so a namespace's token sees nothing of another namespace's activity.
"""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from loci.api.inputs import principal, services
from loci.namespaces import DEFAULT

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    svc = services()
    text = generate_latest(svc.metrics.registry)
    if svc.process_metrics is not None and (principal().admin or svc.namespace == DEFAULT):
        text = generate_latest(svc.process_metrics.registry) + text
    return Response(text, mimetype=CONTENT_TYPE_LATEST)
