"""Response models: one pydantic model per JSON body the API answers with.

They exist for the OpenAPI document (`loci.api.openapi`), which turns each into a schema
under `#/components/schemas`; the views build their bodies as dicts and do not use them.
Keys a view always sends are required here; keys it sends only in some cases default to
None. Objects whose keys grow with the data (analytics, per-task steps, provider call
counters) stay open (`dict[str, Any]`): the schemathesis run in tests/test_openapi.py
checks every response the service gives against these models, so they cannot drift
from the views unnoticed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    """Base of every response model: the schemas say what is always there and allow more keys."""

    model_config = ConfigDict(extra="allow")


class ErrorEnvelope(Body):
    """AutoMem's error envelope, for every error a client can cause."""

    status: Literal["error"]
    code: int = Field(description="The HTTP status again.")
    message: str
    field: str | None = Field(None, description="The request field (or header) at fault, when there is one.")


class Memory(Body):
    """A memory as stored: its fields, pipeline state and what enrichment added."""

    id: str
    content: str
    type: str
    confidence: float
    importance: float
    timestamp: str
    updated_at: str
    last_accessed: str
    t_valid: str
    t_invalid: str | None
    tags: list[str]
    metadata: dict[str, Any]
    embedding_status: Literal["pending", "completed", "failed"]
    enrichment_status: Literal["pending", "completed", "failed"]
    embedding_attempts: int | None = None
    embedding_error: str | None = None
    enrichment_attempts: int | None = None
    enrichment_error: str | None = None
    enriched_at: str | None = None
    summary: str | None = None
    archived: bool | None = None
    protected: bool | None = None
    relevance_score: float | None = None
    stored_at: str | None = None


class Stored(Body):
    """POST /memory: 201 for a new memory, 200 when it repeats one stored within the window."""

    status: Literal["success"]
    memory_id: str
    deduplicated: bool
    stored_at: str
    type: str
    confidence: float
    importance: float
    tags: list[str]
    qdrant: Literal["stored", "queued"]
    embedding_status: Literal["provided", "queued"]
    enrichment: str
    metadata: dict[str, Any]
    timestamp: str
    updated_at: str
    last_accessed: str
    summarized: bool = Field(
        description="The content was over MEMORY_CONTENT_SOFT_LIMIT and is stored as a summary; the original is "
        "in `metadata.original_content`."
    )
    original_length: int | None = Field(None, description="When summarized: the length of the content sent.")
    summarized_length: int | None = Field(None, description="When summarized: the length of the summary stored.")
    query_time_ms: float


class StoredBatch(Body):
    """POST /memory/batch."""

    status: Literal["success"]
    stored: int
    memory_ids: list[str] = Field(description="In input order; a repeat gets the id of the memory it repeats.")
    deduplicated: list[int] = Field(description="Indexes of the items that repeated a stored memory.")
    summarized: list[int] = Field(
        description="Indexes of the items stored as a summary (over MEMORY_CONTENT_SOFT_LIMIT); each keeps its "
        "original in `metadata.original_content`."
    )
    qdrant: str
    enrichment: str
    query_time_ms: float


class FailedStage(Body):
    id: str
    stage: Literal["embedding", "enrichment"]
    reason: str


class PipelineStatus(Body):
    """GET or POST /memory/status."""

    status: Literal["success"]
    completed_ids: list[str]
    pending_ids: list[str]
    failed_ids: list[str]
    failed: list[FailedStage]
    unknown_ids: list[str]
    counts: dict[str, int]


class MemoryFound(Body):
    """GET /memory/{memory_id}."""

    status: Literal["success"]
    memory: Memory


class MemoryUpdated(Body):
    """PATCH /memory/{memory_id}."""

    status: Literal["success"]
    memory_id: str
    memory: Memory


class MemoryDeleted(Body):
    """DELETE /memory/{memory_id}."""

    status: Literal["success"]
    memory_id: str


class TaggedPage(Body):
    """GET /memory/by-tag."""

    status: Literal["success"]
    tags: list[str]
    count: int
    limit: int
    offset: int
    has_more: bool
    memories: list[Memory]


class TaggedDeleted(Body):
    """DELETE /memory/by-tag."""

    status: Literal["success"]
    tags: list[str]
    deleted_count: int


class Associated(Body):
    """POST /associate with one edge; the relation type's own properties ride along."""

    status: Literal["success"]
    message: str
    relation_type: str
    strength: float


class AssociationDone(Body):
    index: int
    memory1_id: str
    memory2_id: str
    relation_type: str
    strength: float


class AssociationFailed(Body):
    index: int
    reason: str


class AssociatedBatch(Body):
    """POST /associate with `associations`: 201 when all landed, 207 with the failures."""

    status: Literal["success", "partial_success"]
    created_count: int
    failed_count: int
    succeeded: list[AssociationDone]
    failed: list[AssociationFailed]
    summary: str


class RelatedMemory(Body):
    id: str
    type: str
    timestamp: str
    summary: str | None
    content: str
    importance: float
    confidence: float
    tags: list[str]
    relation_types: list[str]
    depth: int


class Related(Body):
    """GET /memories/{memory_id}/related."""

    status: Literal["success"]
    memory_id: str
    count: int
    related_memories: list[RelatedMemory]
    relationship_types: list[str]
    max_depth: int
    limit: int


class RecallItem(Body):
    id: str
    score: float
    final_score: float
    original_score: float
    match_score: float
    match_type: str
    source: str
    memory: Memory
    relations: list[dict[str, Any]]
    score_components: dict[str, float] = Field(
        description="vector, keyword, tag, importance, confidence, recency, exact, relation, context, "
        "temporal, priority, entity"
    )
    related_to: str | None = None
    relation_type: str | None = None
    state_replaces: str | None = None
    outside_tag_scope: bool | None = Field(None, description="Added by scope_fallback from outside the tags.")
    expanded_from_entity: str | None = None


class VectorSearch(Body):
    enabled: bool
    matched: int = Field(description="Results found by vector.")


class Replacement(Body):
    replaced: str
    by: str


class StateFilter(Body):
    current_only: bool
    suppressed_count: int
    replacement_count: int
    suppressed: list[str] | None = Field(None, description="With state_debug: the ids dropped.")
    replacements: list[Replacement] | None = Field(None, description="With state_debug.")


class TimeWindow(Body):
    start: str | None
    end: str | None


class Expansion(Body):
    enabled: bool
    seed_count: int
    expanded_count: int
    included_count: int
    relation_limit: int
    expansion_limit: int
    respect_tags: bool
    min_importance: float | None
    min_strength: float | None


class EntityExpansion(Body):
    enabled: bool
    expanded_count: int = Field(description="Memories reached through shared entities and scored.")
    included_count: int
    entities_found: list[str] = Field(description="The entities walked (ids), at most 10.")


class ScopeFallback(Body):
    requested: bool
    added: int = Field(description="Results added from outside the tag scope.")


class ScoreFilter(Body):
    min_score: float
    adaptive_floor: bool
    filtered_count: int = Field(description="Results the adaptive floor removed.")


class ContextPriority(Body):
    language: str | None
    context: str | None
    priority_tags: list[str]
    priority_types: list[str]
    priority_ids: list[str]
    injected: bool = Field(description="A memory fitting the focus was put into results that had none.")


class Recalled(Body):
    """GET /recall, POST /recall."""

    status: Literal["success"]
    query: str | None
    results: list[RecallItem]
    count: int
    dedup_removed: int
    sort: str
    state_mode: Literal["current", "history"]
    vector_search: VectorSearch
    tag_mode: str
    tag_match: str
    keywords: list[str]
    degraded: bool
    state_filter: StateFilter
    query_time_ms: float
    queries: list[str] | None = None
    tags: list[str] | None = None
    exclude_tags: list[str] | None = None
    time_window: TimeWindow | None = None
    expansion: Expansion | None = None
    entity_expansion: EntityExpansion | None = None
    scope_fallback: ScopeFallback | None = None
    recency_bias: Literal["on"] | None = None
    score_filter: ScoreFilter | None = None
    context_priority: ContextPriority | None = None
    degraded_reasons: list[str] | None = None
    warnings: list[str] | None = None


class Lesson(Body):
    id: str
    content: str
    tags: list[str]
    importance: float
    type: str
    metadata: dict[str, Any]


class Rule(Body):
    id: str
    content: str
    tags: list[str]


class StartupRecall(Body):
    """GET /startup-recall."""

    status: Literal["success"]
    critical_lessons: list[Lesson]
    system_rules: list[Rule]
    lesson_count: int
    has_critical: bool
    summary: str


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
    errors: dict[str, str] | None = None


class GraphNode(Body):
    """A memory as the graph viewer draws it: colour by type, radius 0.5 + 1.5 x importance, opacity
    0.4 + 0.6 x confidence."""

    id: str
    content: str
    type: str
    importance: float
    confidence: float
    tags: list[str]
    color: str
    radius: float
    opacity: float
    timestamp: str | None = Field(None, description="In a snapshot.")
    updated_at: str | None = Field(None, description="In a snapshot.")
    metadata: dict[str, Any] | None = Field(None, description="In a snapshot.")


class GraphEdge(Body):
    id: str = Field(description="`<source>-<TYPE>-<target>`.")
    source: str
    target: str
    type: str
    strength: float = Field(description="Its strength, score or confidence; 0.5 when it has none.")
    color: str
    properties: dict[str, Any]


class GraphMeta(Body):
    type_colors: dict[str, str]
    relation_colors: dict[str, str]
    query_time_ms: float
    archive_threshold: float


class SnapshotStats(Body):
    total_nodes: int = Field(description="Memories in the graph.")
    total_edges: int = Field(description="Edges between memories in the graph.")
    returned_nodes: int
    returned_edges: int
    matching_nodes: int = Field(description="Memories passing the filters.")
    sampled: bool = Field(description="The limit left some of the matching memories out.")
    sample_ratio: float = Field(description="returned_nodes / matching_nodes.")
    sampling: Literal["importance"] = Field(description="Which are kept: the most important, then newest.")


class GraphSnapshot(Body):
    """GET /graph/snapshot."""

    nodes: list[GraphNode]
    edges: list[GraphEdge] = Field(description="Only edges whose both ends are among `nodes`.")
    stats: SnapshotStats
    meta: GraphMeta


class GraphCenter(Memory):
    color: str
    radius: float
    opacity: float


class GraphNeighbor(GraphNode):
    hops: int = Field(description="Edges between it and the centre.")


class SemanticNeighbor(GraphNode):
    similarity: float = Field(description="Cosine similarity of its vector to the centre's.")


class NeighborsMeta(Body):
    depth: int
    semantic: Literal["ok", "off", "not_embedded", "unavailable"]
    query_time_ms: float


class GraphNeighbors(Body):
    """GET /graph/neighbors/<id>."""

    center: GraphCenter
    graph_neighbors: list[GraphNeighbor]
    semantic_neighbors: list[SemanticNeighbor]
    edges: list[GraphEdge]
    meta: NeighborsMeta


class GraphTotals(Body):
    nodes: int
    edges: int


class ImportanceBands(Body):
    high: int = Field(description="Importance 0.8 and above.")
    medium: int
    low: int = Field(description="Below 0.5.")


class DayCount(Body):
    date: str
    count: int


class GraphStats(Body):
    """GET /graph/stats."""

    totals: GraphTotals
    by_type: dict[str, int]
    by_relationship: dict[str, int]
    importance_distribution: ImportanceBands
    recent_activity: list[DayCount] = Field(description="Memories per day over the last 7 days, newest first.")
    meta: GraphMeta


class GraphTypes(Body):
    """GET /graph/types."""

    types: list[str]
    colors: dict[str, str]


class GraphRelations(Body):
    """GET /graph/relations."""

    relations: list[str]
    colors: dict[str, str]


class Entity(Body):
    """An entity enrichment found in memories. Loci synthesizes no identities: the `identity*` fields are null."""

    id: str = Field(description="`entity:<category>:<slug>`, the memories' entity tag.")
    slug: str
    category: str
    name: str
    aliases: list[str] = Field(description="Names and slugs of entities merged into this one.")
    identity: str | None
    identity_version: int | None
    identity_updated_at: str | None
    identity_source_count: int | None
    reference_count: int = Field(description="Memories that mention it (REFERENCED_IN edges).")
    created_at: str | None
    last_referenced_at: str | None


class EntityList(Body):
    """GET /entities."""

    status: Literal["success"]
    entities: list[Entity]
    count: int
    category: str | None
    limit: int
    offset: int
    has_more: bool


class EntityFound(Body):
    """GET /entity/<slug>."""

    status: Literal["success"]
    entity: Entity


class MergeCandidate(Body):
    entity_a: str
    entity_b: str
    canonical: str = Field(description="The one to keep: the more referenced.")
    alias: str
    confidence: float
    reason: str = Field(description="Which rule paired them: same_name, alias, token_subset, prefix, edit_distance.")
    auto_merge: bool = Field(description="Sure enough to merge without review (same name, or a shared alias).")


class MergeCandidates(Body):
    """GET /entities/merge-candidates."""

    status: Literal["success"]
    candidates: list[MergeCandidate]
    count: int
    total: int
    limit: int
    offset: int


class AuditedEntity(Body):
    id: str
    category: str
    slug: str
    name: str
    source_tags: list[str]
    references: int


class RejectedTag(Body):
    tag: str
    memory_id: str
    category: str
    slug: str
    reason: Literal["malformed", "unknown_category", "not_a_slug", "quality"]


class EntityAudit(Body):
    """GET /entities/audit: `accepted` and `rejected_entities`, or with `summary` the `*_sample` lists."""

    status: Literal["success"]
    dry_run: Literal[True]
    accepted: list[AuditedEntity] | None = None
    rejected_entities: list[RejectedTag] | None = None
    accepted_sample: list[AuditedEntity] | None = None
    rejected_sample: list[RejectedTag] | None = None
    merge_candidates: list[MergeCandidate]
    counts: dict[str, int]
    counts_by_reason: dict[str, int]
    counts_by_category: dict[str, dict[str, int]]
    limit: int
    offset: int
    summary: bool
    merge_candidates_skipped: bool


class MergeOutcome(Body):
    canonical: str
    alias: str
    alias_slug: str
    edges_moved: int = Field(description="Memories whose reference moved to the canonical entity.")


class EntityMerged(Body):
    """POST /entity/<slug>/merge."""

    status: Literal["success"]
    merge: MergeOutcome


RESPONSE_MODELS: tuple[type[Body], ...] = (
    ErrorEnvelope,
    Stored,
    StoredBatch,
    PipelineStatus,
    MemoryFound,
    MemoryUpdated,
    MemoryDeleted,
    TaggedPage,
    TaggedDeleted,
    Associated,
    AssociatedBatch,
    Related,
    Recalled,
    StartupRecall,
    Analysis,
    EnrichmentStatus,
    Reprocessing,
    Reembedding,
    Synced,
    RestoredPage,
    Consolidated,
    ConsolidationStatus,
    StreamStatus,
    Health,
    EntityList,
    EntityFound,
    MergeCandidates,
    EntityAudit,
    EntityMerged,
    GraphSnapshot,
    GraphNeighbors,
    GraphStats,
    GraphTypes,
    GraphRelations,
)
"""Every top-level response body, in the order the document lists them."""
