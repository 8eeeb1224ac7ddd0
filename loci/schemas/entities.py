"""Request models for the entity routes (loci/api/entities.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
)

# --- entities (loci/api/entities.py)
ENTITY_PAGE_LIMIT = 500
"""Most entities, candidates or audit items per page; larger limits are clamped to it (AutoMem's ceiling)."""
EntityLimit = Annotated[int, Field(ge=1), AfterValidator(lambda v: min(v, ENTITY_PAGE_LIMIT))]
EntityCategory = Literal[
    "people", "organizations", "tools", "projects", "places", "events", "concepts", "opportunities"
]  # fmt: skip
"""Loci's entity categories and AutoMem's (`opportunities`): `loci.enrichment.entity_tags.TAG_CATEGORIES`."""
EntityTagReason = Literal["malformed", "unknown_category", "not_a_slug", "quality"]
"""Why an `entity:` tag is rejected: `loci.enrichment.entity_tags.REASONS`."""


class EntityPage(BaseModel):
    """GET /entities and GET /entities/merge-candidates."""

    model_config = ConfigDict(extra="ignore")

    category: EntityCategory | None = Field(None, description="Only entities of this category.")
    limit: EntityLimit = Field(100, description=f"1 or more; larger than {ENTITY_PAGE_LIMIT} is clamped to it.")
    offset: int = Field(0, ge=0, description="Items skipped, for the next page.")


class EntityAudit(EntityPage):
    """GET /entities/audit."""

    summary: bool = Field(False, description="Samples (`accepted_sample`, `rejected_sample`) instead of lists.")
    include_merge_candidates: bool = Field(False, description="Merge candidates in a summary too.")
    reason: EntityTagReason | None = Field(
        None, description="Only rejected tags for this reason (and no accepted entities)."
    )


class EntityMerge(BaseModel):
    """POST /entity/<slug>/merge."""

    model_config = ConfigDict(extra="ignore")

    merge_into: Annotated[str, Field(min_length=1, max_length=256, pattern=r"\S")] = Field(
        description="The entity that stays: its slug, an alias, or its id (`entity:<category>:<slug>`)."
    )
