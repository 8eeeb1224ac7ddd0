"""The table of every route for the OpenAPI document (`loci.api.openapi`): path, method, Flask
endpoint, inputs, and the statuses it answers with.

The inputs are the models the views validate with (`loci.schemas`,
`loci.recall.params`); the few small models here describe query strings that views read
with `int_param` and friends (paging, relation types), for the document only. tests/test_openapi.py
checks the table against `app.url_map`, so a route missing from it fails the suite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BaseModel, Field

from loci.api import responses
from loci.recall.params import RecallParams
from loci.schemas import (
    AdminReembed,
    AdminSync,
    Association,
    Consolidate,
    EntityAudit,
    EntityMerge,
    EntityPage,
    GraphNeighborsQuery,
    GraphSnapshotQuery,
    MemoryListing,
    MemoryStatus,
    PatchMemory,
    Reprocess,
    RestorePage,
    StoreBatch,
    StoreMemory,
)


class AssociateBatch(BaseModel):
    """POST /associate with several edges; each failure is reported by index (207)."""

    associations: list[Association] = Field(min_length=1, max_length=500)


class ByTagQuery(BaseModel):
    tags: Annotated[list[Annotated[str, Field(pattern="\\w")]], Field(min_length=1)] = Field(
        description="Memories having any of these tags (repeated or comma-separated)."
    )
    limit: int = Field(20, description="Clamped to 1..200.")
    offset: int = Field(0, description="Clamped to 0 or more.")


class MemoriesQuery(MemoryListing):
    limit: int = Field(50, description="Clamped to 1..200.")
    cursor: str | None = Field(None, description="The `next_cursor` of the previous page; absent for the first.")


class BackupQuery(BaseModel):
    include: str | None = Field(
        None, description="Comma-separated subset of falkordb,qdrant (default both); anything else is a 400."
    )


class RelatedQuery(BaseModel):
    relationship_types: str | None = Field(None, description="Comma-separated relation types; default: all.")
    max_depth: int = Field(1, description="Clamped to 1..3.")
    limit: int | None = Field(None, description="Clamped to 1..200; default RECALL_RELATION_LIMIT.")


# --- the operations
@dataclass(frozen=True)
class Op:
    """One route: its Flask endpoint (also the operationId), what it takes and what it answers."""

    path: str
    method: str
    endpoint: str
    summary: str
    tag: str
    ok: dict[int, type[BaseModel] | tuple[type[BaseModel], ...] | str]
    """Success status -> response model (a tuple: any one of them), or a media type for bodies that are not JSON."""
    errors: tuple[int, ...] = ()
    body: type[BaseModel] | tuple[type[BaseModel], ...] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    auth: str = "api"
    """"api" (the API token), "admin" (both tokens) or "open" (none)."""
    headers: tuple[str, ...] = ()
    links: dict[str, str] = field(default_factory=dict)
    """Link name -> operationId that takes `memory_id` from this response's `memory_id`."""


FRONT = (400, 413, 414, 431)
"""What the HTTP front answers itself, before any route is chosen: a malformed request, a body over
LOCI_MAX_REQUEST_BYTES, a request line or headers too long. Every operation lists them."""
OPEN = (400, 403)
"""403: no API token is configured and the client is not on this machine."""
READ = (400, 401, 403, 503, 504)
WRITE = (400, 401, 403, 413, 503, 504, 507)
ID_PATH = "{memory_id}"
MEMORY_LINKS = {
    "GetMemory": "memory.get",
    "UpdateMemory": "memory.update",
    "DeleteMemory": "memory.delete",
    "RelatedMemories": "associations.related",
}

OPERATIONS: tuple[Op, ...] = (
    Op("/health", "get", "health.health", "Pings both stores; 503 when the graph is unreachable", "service",
       {200: responses.Health, 503: responses.Health}, OPEN, auth="open"),
    Op("/openapi.json", "get", "openapi.document", "This document", "service",
       {200: "application/json"}, OPEN, auth="open"),
    Op("/docs", "get", "openapi.docs", "Swagger UI over this document", "service", {200: "text/html"}, OPEN,
       auth="open"),
    Op("/static/{filename}", "get", "static", "Files of the docs page", "service", {200: "*/*"}, (*OPEN, 404),
       auth="open"),
    Op("/memory", "post", "memory.store", "Store one memory (201; 200 for a repeat)", "memories",
       {201: responses.Stored, 200: responses.Stored}, (*WRITE, 409, 422), StoreMemory,
       headers=("Idempotency-Key",), links=MEMORY_LINKS),
    Op("/memory/batch", "post", "memory.store_batch", "Store up to MEMORY_BATCH_LIMIT memories at once", "memories",
       {201: responses.StoredBatch}, (*WRITE, 409, 422), StoreBatch, headers=("Idempotency-Key",)),
    Op("/memory/status", "get", "memory.status_by_query", "Which memories are searchable yet", "memories",
       {200: responses.PipelineStatus}, READ, query=MemoryStatus),
    Op("/memory/status", "post", "memory.status_by_body", "Which memories are searchable yet", "memories",
       {200: responses.PipelineStatus}, (*READ, 413), MemoryStatus),
    Op("/memory/by-tag", "get", "memory.by_tag", "Memories having any of the tags, paged", "memories",
       {200: responses.TaggedPage}, READ, query=ByTagQuery),
    Op("/memories", "get", "memory.listing", "Memories newest first, paged by cursor (Loci)", "memories",
       {200: responses.MemoryPage}, READ, query=MemoriesQuery),
    Op("/memory/by-tag", "delete", "memory.delete_by_tag", "Delete memories having any of the tags", "memories",
       {200: responses.TaggedDeleted}, WRITE, query=ByTagQuery),
    Op(f"/memory/{ID_PATH}", "get", "memory.get", "One memory", "memories",
       {200: responses.MemoryFound}, (*READ, 404)),
    Op(f"/memory/{ID_PATH}", "patch", "memory.update", "Change any subset of fields", "memories",
       {200: responses.MemoryUpdated}, (*WRITE, 404), PatchMemory),
    Op(f"/memory/{ID_PATH}", "delete", "memory.delete", "Delete one memory", "memories",
       {200: responses.MemoryDeleted}, (*WRITE, 404)),
    Op("/associate", "post", "associations.associate", "One edge, or several under `associations`", "relations",
       {201: (responses.Associated, responses.AssociatedBatch), 207: responses.AssociatedBatch}, (*WRITE, 404),
       (Association, AssociateBatch)),
    Op(f"/memories/{ID_PATH}/related", "get", "associations.related", "Memories within max_depth hops",
       "relations", {200: responses.Related}, READ, query=RelatedQuery),
    Op("/recall", "get", "recall.recall", "Hybrid recall, every score explained", "recall",
       {200: responses.Recalled}, (*READ, 502), query=RecallParams),
    Op("/recall", "post", "recall.recall_by_body", "Hybrid recall, the same parameters as a JSON body", "recall",
       {200: responses.Recalled}, (*READ, 413, 502), RecallParams),
    Op("/startup-recall", "get", "insights.startup_recall", "Lessons and system rules for a session's start",
       "recall", {200: responses.StartupRecall}, READ),
    Op("/analyze", "get", "insights.analyze", "Types, patterns, preferences, hours, entities", "recall",
       {200: responses.Analysis}, READ),
    Op("/entities", "get", "entities.listing", "Entities memories mention, most referenced first", "entities",
       {200: responses.EntityList}, READ, query=EntityPage),
    Op("/entity/{slug}", "get", "entities.get", "One entity by slug, alias or id", "entities",
       {200: responses.EntityFound}, (*READ, 404)),
    Op("/entities/merge-candidates", "get", "entities.candidates", "Entities whose names say they may be one",
       "entities", {200: responses.MergeCandidates}, READ, query=EntityPage),
    Op("/entities/audit", "get", "entities.audit_tags", "Which entity tags pass the quality rules (dry run)",
       "admin", {200: responses.EntityAudit}, READ, query=EntityAudit, auth="admin"),
    Op("/entity/{slug}/merge", "post", "entities.merge", "Merge an entity into another; it becomes an alias",
       "admin", {200: responses.EntityMerged}, (*WRITE, 404), EntityMerge, auth="admin"),
    Op("/enrichment/status", "get", "enrichment.status", "The enrichment worker", "pipeline",
       {200: responses.EnrichmentStatus}, READ),
    Op("/enrichment/reprocess", "post", "enrichment.reprocess", "Enrich these memories again", "admin",
       {202: responses.Reprocessing}, (*WRITE, 403), Reprocess, body_required=False,
       query=Reprocess, auth="admin"),
    Op("/admin/reembed", "post", "admin.reembed", "Queue memories for the embedding worker", "admin",
       {200: responses.Reembedding}, (*WRITE, 403), AdminReembed, body_required=False, auth="admin"),
    Op("/admin/sync", "post", "admin.sync", "Bring the vector store in step with the graph", "admin",
       {200: responses.Synced}, (*WRITE, 403, 409), AdminSync, body_required=False, auth="admin"),
    Op("/admin/namespaces", "get", "namespaces.listing", "Every namespace and its memory count", "admin",
       {200: responses.Namespaces}, (*READ, 403), auth="admin"),
    Op("/admin/namespaces/{name}", "delete", "namespaces.drop", "Drop a namespace: its graph and vectors", "admin",
       {200: responses.NamespaceDropped}, (*WRITE, 403, 404), auth="admin"),
    Op("/backup", "get", "backup.backup",
       "Stream a tar.gz of the graph and the vectors (AutoMem's layout); the admin token alone suffices", "admin",
       {200: "application/gzip"}, (*READ, 403), query=BackupQuery, auth="admin"),
    Op("/admin/restore", "post", "backup.restore", "Write one page of a restore (python -m loci restore)", "admin",
       {200: responses.RestoredPage}, (*WRITE, 403, 409, 422), RestorePage, auth="admin",
       headers=("Idempotency-Key",)),
    Op("/consolidate", "post", "consolidation.consolidate",
       "Run a consolidation task now (a real run needs the admin token too)", "admin",
       {200: responses.Consolidated}, (*WRITE, 403, 409), Consolidate, body_required=False),
    Op("/consolidate/status", "get", "consolidation.status", "Schedule and recorded runs", "pipeline",
       {200: responses.ConsolidationStatus}, READ),
    Op("/stream", "get", "stream.stream", "Server-sent events (long-lived)", "pipeline",
       {200: "text/event-stream"}, (400, 401, 503)),
    Op("/stream/status", "get", "stream.status", "Stream subscribers", "pipeline",
       {200: responses.StreamStatus}, (400, 401)),
    Op("/metrics", "get", "metrics.metrics", "Prometheus text format", "service",
       {200: "text/plain"}, (400, 401)),
    Op("/mcp", "post", "mcp.mcp", "MCP streamable HTTP (JSON-RPC; docs/mcp.md)", "service",
       {200: "application/json", 202: "application/json"}, (*FRONT, 401, 403, 406, 415)),
    Op("/graph/snapshot", "get", "graph.snapshot", "The most important memories and the edges among them",
       "graph", {200: responses.GraphSnapshot}, READ, query=GraphSnapshotQuery),
    Op(f"/graph/neighbors/{ID_PATH}", "get", "graph.neighbors", "Memories near one, over edges and by vector",
       "graph", {200: responses.GraphNeighbors}, (*READ, 404), query=GraphNeighborsQuery),
    Op("/graph/stats", "get", "graph.stats", "Counts by type, relation, importance and day", "graph",
       {200: responses.GraphStats}, READ),
    Op("/graph/types", "get", "graph.types", "Memory types and their colours", "graph",
       {200: responses.GraphTypes}, READ),
    Op("/graph/relations", "get", "graph.relations", "Relation types and their colours", "graph",
       {200: responses.GraphRelations}, READ),
    Op("/ui", "get", "ui.root", "On to /ui/", "ui", {308: "text/html"}, (*OPEN, 404), auth="open"),
    Op("/ui/", "get", "ui.index", "The memory browser (no data in the page; it asks for the API token)", "ui",
       {200: "text/html"}, (*OPEN, 404), auth="open"),
    Op("/ui/{filename}", "get", "ui.asset", "A file of the memory browser", "ui", {200: "*/*"}, (*OPEN, 404),
       auth="open"),
    Op("/viewer/", "get", "ui.viewer_index", "The memory browser, at AutoMem's viewer address", "ui",
       {200: "text/html"}, (*OPEN, 404), auth="open"),
    Op("/viewer/{path}", "get", "ui.viewer_page", "The memory browser for a page path; 404 for a file path", "ui",
       {200: "text/html"}, (*OPEN, 404), auth="open"),
)  # fmt: skip

ERROR_MEANINGS = {
    400: "Invalid input; `field` names it",
    401: "Missing or wrong API token (or admin token)",
    403: "No admin token is configured, a read token asked to write, or a token named another namespace",
    404: "No such memory (or file), or an admin's X-Loci-Namespace names no namespace",
    409: "The same task is already running, or the same Idempotency-Key is still being processed",
    413: "Request body over LOCI_MAX_REQUEST_BYTES",
    414: "Request line too long",
    422: "Idempotency-Key reused with a different body",
    431: "Request headers too large",
    502: "The embedding provider failed",
    503: "A store is unreachable or restarting; retry after Retry-After",
    504: "A store took too long to answer",
    507: "The data directory is below its free-space reserve; reads keep working",
}
