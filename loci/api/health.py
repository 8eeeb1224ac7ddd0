"""GET /health: the truth about this process, without auth.

Both stores are pinged (not just checked for a client object). The answer is 503 when
the graph, the record, cannot be reached; `degraded` when the vector store cannot, or
when the embedding worker is not running.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from loci import __version__
from loci.api import services
from loci.errors import LociError
from loci.memory import Stage
from loci.timeutil import iso, utcnow

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> Any:
    svc = services()
    settings = svc.settings
    graph_ok, states, graph_error = True, None, None
    try:
        svc.graph.ping()
        states = svc.graph.stage_counts(settings.recall_excluded_types)[Stage.EMBEDDING]
    except LociError as exc:
        graph_ok, graph_error = False, exc.message
    vectors_ok, vector_count, vector_error = True, None, None
    try:
        svc.vectors.ping()
        vector_count = svc.vectors.count()
    except LociError as exc:
        vectors_ok, vector_error = False, exc.message
    worker = svc.embedding_worker
    queue = svc.embedding_queue.stats()
    healthy = graph_ok and vectors_ok and worker.running
    body: dict[str, Any] = {
        "status": "healthy" if healthy else ("unhealthy" if not graph_ok else "degraded"),
        "version": __version__,
        "timestamp": iso(utcnow()),
        "uptime_seconds": round(utcnow().timestamp() - svc.started_at, 1),
        "falkordb": "connected" if graph_ok else "disconnected",
        "qdrant": "connected" if vectors_ok else "disconnected",
        "graph": settings.falkordb_graph,
        "graph_server": "embedded" if svc.falkordb_server else f"{settings.falkordb_host}:{settings.falkordb_port}",
        "vector_store": svc.vectors.kind,
        "memory_count": sum(states.values()) if states else None,
        "vector_count": vector_count,
        "sync_status": sync_status(states, vector_count),
        "vector_dimensions": {
            "configured": svc.configured_dimension,
            "effective": svc.vectors.dimension,
            "collection": svc.vectors.dimension,
            "mismatch": svc.configured_dimension != svc.vectors.dimension,
        },
        "embedding": {
            "status": "running" if worker.running else "stopped",
            "provider": svc.provider.name,
            "model": svc.provider.model,
            "dimension": svc.provider.dimension,
            "queue_depth": queue.depth,
            "delayed": queue.delayed,
            "pending": queue.pending,
            "inflight": queue.inflight,
            "memories": states,
            "processed": worker.stats.processed,
            "failed": worker.stats.failed,
            "retries": worker.stats.retries,
            "last_error": worker.stats.last_error,
        },
    }
    errors = {name: error for name, error in (("falkordb", graph_error), ("qdrant", vector_error)) if error}
    if errors:
        body["errors"] = errors
    return jsonify(body), 200 if graph_ok else 503


def sync_status(states: dict[str, int] | None, vector_count: int | None) -> str:
    """Vectors against memories whose embedding is completed, at this moment (a batch in flight shows briefly)."""
    if states is None or vector_count is None:
        return "unknown"
    completed = states["completed"]
    if vector_count == completed:
        return "synced"
    return "drift_detected" if vector_count < completed else "orphaned_vectors"
