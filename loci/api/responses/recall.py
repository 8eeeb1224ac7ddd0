"""Response models of recall and start-up recall."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from loci.api.responses.base import Body, Memory


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
    types: list[str] | None = Field(None, description="Loci: only memories of these types were recalled.")
    min_importance: float | None = Field(None, description="Loci: only memories at least this important.")
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
