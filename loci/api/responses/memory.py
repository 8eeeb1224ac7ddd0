"""Response models of the memory routes: store, batch, status, fetch, update, delete, by tag, listing,
associations, related."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from loci.api.responses.base import Body, Memory


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


class MemoryPage(Body):
    """GET /memories: newest first."""

    status: Literal["success"]
    memories: list[Memory]
    count: int
    limit: int
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


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
