"""Response models of the entity routes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from loci.api.responses.base import Body


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
