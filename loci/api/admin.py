"""Admin routes: re-embed memories, and bring the vector store in step with the graph."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from loci.api.auth import require_admin
from loci.api.inputs import optional_json_object, services
from loci.model import Stage
from loci.schemas import AdminReembed, AdminSync, parse

bp = Blueprint("admin", __name__)


def _body() -> dict[str, Any]:
    return optional_json_object()


@bp.post("/admin/reembed")
@require_admin
def reembed() -> Any:
    """Queue memories for the embedding worker; it rewrites full payloads, and new vectors when forced."""
    svc = services()
    req = parse(AdminReembed, _body())
    excluded = svc.settings.recall_excluded_types
    ids = (
        svc.graph.maintenance.newest_ids(req.limit, excluded)
        if req.limit
        else list(svc.graph.memories.iter_ids(excluded_types=excluded))
    )
    if req.dry_run:
        return jsonify({"status": "dry_run", "total": len(ids), "force": req.force})
    if req.force:
        ids = svc.graph.maintenance.set_stage_pending(Stage.EMBEDDING, ids)
    queued = svc.embedding_queue.put_many(ids)
    return jsonify({"status": "queued", "queued": queued, "total": len(ids), "force": req.force})


@bp.post("/admin/sync")
@require_admin
def sync() -> Any:
    """Compare graph and vectors page by page; queue missing vectors and stale payloads, delete orphans."""
    req = parse(AdminSync, _body())
    step = services().consolidator.run_task("sync", dry_run=req.dry_run)
    body = {
        "status": "dry_run" if req.dry_run else ("complete" if step["success"] else "error"),
        "falkordb_count": step.get("memory_count"),
        "checked_count": step.get("graph_count"),
        "qdrant_count": step.get("vector_count"),
        "missing_count": step.get("missing_count"),
        "stale_payload_count": step.get("stale_payload_count"),
        "orphaned_count": step.get("orphaned_count"),
        "missing_sample": step.get("missing_sample"),
        "orphaned_sample": step.get("orphaned_sample"),
        "duration_ms": step.get("duration_ms"),
    }
    if not req.dry_run:
        body["synced"] = step.get("missing_count")  # queued for embedding
        body["removed_orphans"] = step.get("orphaned_count")
        body["requeued_pending"] = step.get("requeued_pending")
    if step.get("error"):
        body["error"] = step["error"]
    return jsonify(body)
