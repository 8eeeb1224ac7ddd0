"""Response models of the pipeline, admin, consolidation, stream and health routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from loci.api.responses.base import Body


class Analytics(Body):
    memory_types: dict[str, Any]
    patterns: list[Any]
    preferences: list[Any]
    temporal_insights: dict[str, Any]
    entity_frequency: dict[str, Any]
    confidence_distribution: dict[str, Any]


class Analysis(Body):
    """GET /analyze."""

    status: Literal["success"]
    analytics: Analytics
    elapsed_ms: float


class EnrichmentStatus(Body):
    """GET /enrichment/status."""

    status: Literal["running", "stopped"]
    queue_size: int
    delayed: int
    pending: int
    inflight: int
    max_attempts: int
    entity_extractor: str
    stats: dict[str, Any]
    classification: dict[str, Any]


class Reprocessing(Body):
    """POST /enrichment/reprocess (202)."""

    status: Literal["queued"]
    count: int
    ids: list[str]
    unknown_ids: list[str]


class Reembedding(Body):
    """POST /admin/reembed: what a dry run would queue, or what was queued."""

    status: Literal["dry_run", "queued"]
    total: int
    force: bool
    queued: int | None = None


class RestoredPage(Body):
    """POST /admin/restore: what one page of a restore wrote."""

    status: Literal["success"]
    restored: int
    present_ids: list[str] = Field(description="Memories already in the store, left as they are.")
    vectors: int = Field(description="Restored memories whose backup vector was kept.")
    reembed: int = Field(description="Restored memories queued for embedding (no vector, or another dimension).")
    enrich: int
    nodes: int
    edges: int
    edges_missing_end: int = Field(description="Edges not written: one of their nodes is missing.")
    dimension: int = Field(description="The vector dimension of the running store.")


class Synced(Body):
    """POST /admin/sync: the comparison of graph and vectors, and what was repaired."""

    status: Literal["dry_run", "complete", "error"]
    falkordb_count: int | None
    checked_count: int | None
    qdrant_count: int | None
    missing_count: int | None
    stale_payload_count: int | None
    orphaned_count: int | None
    missing_sample: list[str] | None
    orphaned_sample: list[str] | None
    duration_ms: float | None
    synced: int | None = None
    removed_orphans: int | None = None
    requeued_pending: int | None = None
    error: str | None = None


class ConsolidationRun(Body):
    mode: str
    dry_run: bool
    started_at: str
    completed_at: str
    steps: dict[str, dict[str, Any]] = Field(description="One report per task run (decay, creative, cluster, forget).")
    success: bool


class Consolidated(Body):
    """POST /consolidate."""

    status: Literal["success", "error"]
    consolidation: ConsolidationRun


class ConsolidationStatus(Body):
    """GET /consolidate/status."""

    status: Literal["success"]
    scheduler_running: bool
    next_runs: dict[str, str] = Field(description="ISO time of each task's next run, or Disabled.")
    intervals_seconds: dict[str, float]
    history: list[dict[str, Any]]


class StreamStatus(Body):
    """GET /stream/status."""

    subscribers: int
    max_subscribers: int
    dropped: int


class Health(Body):
    """GET /health: 200 while the graph answers (`healthy` or `degraded`), 503 when it does not."""

    status: str = Field(description="healthy, degraded or unhealthy")
    version: str
    timestamp: str
    falkordb: str
    qdrant: str
    uptime_seconds: float | None = None
    graph: str | None = None
    graph_server: str | None = None
    vector_store: str | None = None
    memory_count: int | None = None
    vector_count: int | None = None
    sync_status: str | None = None
    vector_dimensions: dict[str, Any] | None = None
    embedding: dict[str, Any] | None = None
    enrichment: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    sync: dict[str, Any] | None = None
    fleet: dict[str, Any] | None = Field(
        None,
        description="With shared queues (docs/fleet.md): this process's consumer name and roles, the scheduler "
        "lease's holder, and per stage the queue's lag and each consumer's held entries and last heartbeat.",
    )
    errors: dict[str, str] | None = None


class NamespaceInfo(Body):
    namespace: str
    graph: str = Field(description="The FalkorDB graph holding its memories.")
    memories: int
    default: bool


class Namespaces(Body):
    """GET /admin/namespaces."""

    status: Literal["success"]
    count: int
    namespaces: list[NamespaceInfo]


class NamespaceDropped(Body):
    """DELETE /admin/namespaces/{name}."""

    status: Literal["success"]
    namespace: str
    deleted_memories: int
