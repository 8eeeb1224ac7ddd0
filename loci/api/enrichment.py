"""Enrichment routes: the worker's state, and re-running it for chosen memories (admin)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from loci.api.auth import require_admin
from loci.api.inputs import optional_json_object, services
from loci.errors import InvalidRequest
from loci.model import Stage
from loci.schemas import canonical_id

bp = Blueprint("enrichment", __name__)

REPROCESS_LIMIT = 1000


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
    ids = _id_list(body.get("ids", ",".join(request.args.getlist("ids")) or None))
    svc = services()
    found = svc.graph.set_stage_pending(Stage.ENRICHMENT, ids)
    svc.enrichment_queue.put_many(found)
    unknown = sorted(set(ids) - set(found))
    return jsonify({"status": "queued", "count": len(found), "ids": sorted(found), "unknown_ids": unknown}), 202


def _id_list(raw: Any) -> list[str]:
    """Canonical UUIDs from a list or comma string; 400 naming any that are malformed."""
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("No memory ids provided for reprocessing", field="ids")
    if len(raw) > REPROCESS_LIMIT:
        raise InvalidRequest(f"At most {REPROCESS_LIMIT} ids per request", field="ids")
    ids, malformed = [], []
    for item in raw:
        try:
            ids.append(canonical_id(str(item)))
        except ValueError:
            malformed.append(str(item)[:64])
    if malformed:
        raise InvalidRequest(f"Invalid 'ids': not UUIDs: {', '.join(malformed[:10])}", field="ids")
    return list(dict.fromkeys(ids))
