"""Enrichment routes: the worker's state, and re-running it for chosen memories (admin)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from loci.api.auth import require_admin
from loci.api.inputs import optional_json_object, query_values, services
from loci.model import Stage
from loci.schemas import Reprocess, parse

bp = Blueprint("enrichment", __name__)


@bp.get("/enrichment/status")
def status() -> Any:
    svc = services()
    worker, queue = svc.enrichment_worker, svc.enrichment_queue.stats()
    classifier = worker.classifier
    return jsonify(
        {
            "status": "running" if worker.running else "stopped",
            "queue_size": queue.depth,
            "delayed": queue.delayed,
            "pending": queue.pending,
            "inflight": queue.inflight,
            "max_attempts": worker.retry.max_attempts,
            "entity_extractor": worker.extractor.name,
            "stats": worker.stats.as_dict(),
            "classification": {
                "llm": classifier.model if classifier else None,
                **(classifier.stats.as_dict() if classifier else {}),
            },
        }
    )


@bp.post("/enrichment/reprocess")
@require_admin
def reprocess() -> Any:
    """Enrich these memories again (`ids`: a list or a comma-separated string, in the body or the query)."""
    body = optional_json_object()
    if "ids" not in body:
        body = query_values(request.args)
    ids = parse(Reprocess, body).ids
    svc = services()
    found = svc.graph.maintenance.set_stage_pending(Stage.ENRICHMENT, ids)
    svc.enrichment_queue.put_many(found)
    unknown = sorted(set(ids) - set(found))
    return jsonify({"status": "queued", "count": len(found), "ids": sorted(found), "unknown_ids": unknown}), 202
