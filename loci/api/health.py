"""GET /health: the truth about this process, without auth.

Both stores are pinged (not just checked for a client object), within a second whatever
they do (loci/probe.py). The answer is 503 when the graph, the record, cannot be reached,
did not answer in time, or its embedded server is being restarted; `degraded` when the vector store cannot, or
when a worker or the scheduler is not running. It reports both pipeline stages (queue
and memories per state), the entity extractor, the scheduler's next runs and the last
sync result.
"""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Blueprint, jsonify

from loci import __version__
from loci.api.inputs import runtime, services
from loci.errors import LociError
from loci.model import Stage
from loci.pipeline.queue import Queue
from loci.pipeline.streams import StreamQueue
from loci.pipeline.worker import StageWorker
from loci.probe import GraphReport
from loci.services import Services
from loci.stores.falkordb_server import FalkorDBServer, ServerState
from loci.timeutil import iso, utcnow

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> Any:
    svc = services()
    settings = svc.settings
    graph, vectors = svc.probe.read()  # within a second, whatever the stores do (loci/probe.py)
    server = svc.falkordb_server
    graph_ok = graph.ok and (server is None or server.state is ServerState.RUNNING)
    report: GraphReport | None = graph.value if graph.ok else None
    states, last_sync = (report.states, report.last_sync) if report else (None, None)
    graph_error = graph.error or (None if graph_ok else f"FalkorDB is {server.state if server else 'down'}")
    vectors_ok, vector_count, vector_error = vectors.ok, vectors.value, vectors.error
    expected = [
        worker
        for worker in (svc.embedding_worker, svc.enrichment_worker)
        if settings.run_workers and worker.stage.value in settings.worker_stages
    ]  # this process's role: an API-only process runs no workers, a worker process may run one stage
    running = all(worker.running for worker in expected) and (svc.scheduler.running or not settings.run_scheduler)
    embedded = states[Stage.EMBEDDING] if states else None
    # shared queues live on the graph's server: read them only when the probe found it answering in time
    queue_readable = graph_ok or not settings.shared_queues
    body: dict[str, Any] = {
        "status": "healthy" if graph_ok and vectors_ok and running else ("unhealthy" if not graph_ok else "degraded"),
        "version": __version__,
        "timestamp": iso(utcnow()),
        "uptime_seconds": round(utcnow().timestamp() - svc.started_at, 1),
        "falkordb": "connected" if graph_ok else ("restarting" if _restarting(server) else "disconnected"),
        "qdrant": "connected" if vectors_ok else "disconnected",
        "graph": settings.falkordb_graph,
        "graph_server": "embedded" if server else f"{settings.falkordb_host}:{settings.falkordb_port}",
        "graph_server_state": {"state": server.state.value, "restarts": server.restarts} if server else None,
        "vector_store": svc.vectors.kind,
        "memory_count": sum(embedded.values()) if embedded else None,
        "vector_count": vector_count,
        "sync_status": sync_status(embedded, vector_count),
        "vector_dimensions": {
            "configured": svc.configured_dimension,
            "effective": svc.vectors.dimension,
            "collection": svc.vectors.dimension,
            "mismatch": svc.configured_dimension != svc.vectors.dimension,
        },
        "embedding": {
            **stage_report(svc.embedding_worker, svc.embedding_queue, embedded, queue_readable),
            "provider": svc.provider.name,
            "model": svc.provider.model,
            "runtime": svc.provider.runtime,
            "dimension": svc.provider.dimension,
            "concurrency": svc.embedding_worker.in_flight,
            "provider_calls": svc.provider.report(),
        },
        "enrichment": {
            **stage_report(
                svc.enrichment_worker,
                svc.enrichment_queue,
                states[Stage.ENRICHMENT] if states else None,
                queue_readable,
            ),
            "entity_extractor": svc.enrichment_worker.extractor.name,
            "llm_classifier": svc.enrichment_worker.classifier.model if svc.enrichment_worker.classifier else None,
        },
        "scheduler": {
            "status": "running" if svc.scheduler.running else "stopped",
            "next_runs": svc.scheduler.next_runs(),
        },
        "sync": {"last_run": _sync_summary(last_sync)},
        "disk": svc.disk.state().report(),
    }
    if settings.shared_queues:
        lags = {stage.value: body[stage.value]["queue_depth"] for stage in Stage}  # read once, above
        body["fleet"] = fleet_report(svc, queue_readable, lags)
    errors = {name: error for name, error in (("falkordb", graph_error), ("qdrant", vector_error)) if error}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    if not graph_ok:
        response.headers["Retry-After"] = "5"
    return response, 200 if graph_ok else 503


def fleet_report(svc: Services, readable: bool, lags: dict[str, int | None]) -> dict[str, Any]:
    """This process's roles, the scheduler lease's holder, and the consumers of this namespace's shared queues:
    what each holds and how long since it was last heard from (its heartbeat)."""
    rt, settings = runtime(), svc.settings
    report: dict[str, Any] = {
        "consumer": rt.shared.consumer,
        "roles": {
            "workers": list(settings.worker_stages) if settings.run_workers else [],
            "scheduler": settings.run_scheduler,
        },
        "namespaces_open": len(rt.open_namespaces()),
    }
    if not readable:
        report["error"] = "FalkorDB, which holds the shared queues, is not answering"
        return report
    try:
        report["lease_holder"] = rt.lease.holder() if rt.lease else None
        for stage, queue in ((Stage.EMBEDDING, svc.embedding_queue), (Stage.ENRICHMENT, svc.enrichment_queue)):
            consumers = queue.consumers() if isinstance(queue, StreamQueue) else []
            report[stage.value] = {
                "lag": lags[stage.value],
                "consumers": [{"name": c.name, "holding": c.pending, "last_heard_ms": c.idle_ms} for c in consumers],
            }
    except LociError as exc:
        report["error"] = exc.message
    return report


def _restarting(server: FalkorDBServer | None) -> bool:
    return server is not None and server.state is ServerState.RESTARTING


def stage_report(
    worker: StageWorker, queue: Queue, memories: dict[str, int] | None, readable: bool = True
) -> dict[str, Any]:
    """A stage's worker and queue; a shared queue whose server is not answering shows its figures as null."""
    stats = None
    if readable:
        with contextlib.suppress(LociError):
            stats = queue.stats()
    return {
        "status": "running" if worker.running else "stopped",
        "queue_depth": stats.depth if stats else None,
        "delayed": stats.delayed if stats else None,
        "pending": stats.pending if stats else None,
        "inflight": stats.inflight if stats else None,
        "memories": memories,
        "processed": worker.stats.processed,
        "failed": worker.stats.failed,
        "retries": worker.stats.retries,
        "last_error": worker.stats.last_error,
    }


def _sync_summary(run: dict[str, Any] | None) -> dict[str, Any] | None:
    if run is None:
        return None
    result = run.get("result", {})
    keep = ("graph_count", "vector_count", "missing_count", "stale_payload_count", "orphaned_count", "duration_ms")
    return {"completed_at": run.get("completed_at"), "success": run.get("success"), **{k: result.get(k) for k in keep}}


def sync_status(states: dict[str, int] | None, vector_count: int | None) -> str:
    """Vectors against memories whose embedding is completed, at this moment (a batch in flight shows briefly)."""
    if states is None or vector_count is None:
        return "unknown"
    completed = states["completed"]
    if vector_count == completed:
        return "synced"
    return "drift_detected" if vector_count < completed else "orphaned_vectors"
