"""Request models for POST /admin/restore: pages of a backup, validated whole before anything is written."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from loci.model import RelationType, normalize_type
from loci.schemas.fields import (
    MAX_METADATA_BYTES,
    Embedding,
    Flag,
    MemoryId,
    Tags,
    Timestamp,
    UnitFloat,
    canonical_id,
)

# --- restore (POST /admin/restore): pages of a backup, validated whole before anything is written
RESTORE_PAGE_LIMIT = 1000
"""Memories (and side nodes) per restore page."""
RESTORE_EDGE_LIMIT = 5000
MAX_RESTORE_CONTENT = 100_000
"""Characters of content a restored memory may have (AutoMem's hard limit is far below)."""
MAX_PROPERTIES = 100
RESTORE_LEGACY_EDGES = {"EXPLAINS": "explains", "SHARES_THEME": "shares_theme", "PARALLEL_CONTEXT": "parallel_context"}
"""Edge names of older AutoMem stores, read as DISCOVERED with this `kind`."""
RESTORE_EDGE_TYPES = frozenset({*(t.value for t in RelationType), "REFERENCED_IN"})


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) < 2**63
    return value is None or isinstance(value, str | bool)


def _properties(value: Any) -> Any:
    """Graph properties: string keys, values a scalar or a list of scalars (FalkorDB holds nothing else)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("must be an object")
    if len(value) > MAX_PROPERTIES:
        raise ValueError(f"at most {MAX_PROPERTIES} properties")
    for key, item in value.items():
        if not key or len(key) > 128:
            raise ValueError("property names must be 1 to 128 characters")
        if not (_scalar(item) or (isinstance(item, list) and all(_scalar(x) and x is not None for x in item))):
            raise ValueError(f"property '{key}' must be a string, number, boolean or a list of them")
    return {key: item for key, item in value.items() if item is not None}


Properties = Annotated[dict[str, Any], BeforeValidator(_properties)]


def _restored_type(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 64 or not value.isprintable():
        raise ValueError("must be a short printable string")
    return normalize_type(value) or value.strip()


class RestoreMemory(BaseModel):
    """A memory as a backup holds it: its id and timestamps kept, its vector if the backup has one."""

    model_config = ConfigDict(extra="ignore")

    id: MemoryId
    content: Annotated[str, Field(min_length=1, max_length=MAX_RESTORE_CONTENT)]
    type: Annotated[str | None, BeforeValidator(_restored_type)] = None
    confidence: UnitFloat | None = None
    importance: UnitFloat | None = None
    timestamp: Timestamp = None
    updated_at: Timestamp = None
    last_accessed: Timestamp = None
    t_valid: Timestamp = None
    t_invalid: Timestamp = None
    stored_at: Timestamp = None
    tags: Tags | None = None
    metadata: dict[str, Any] | None = None
    summary: Annotated[str | None, Field(max_length=MAX_RESTORE_CONTENT)] = None
    enriched: Flag = False
    """The backup says enrichment ran: it is not queued again."""
    enriched_at: Timestamp = None
    relevance_score: Annotated[float | None, Field(ge=0.0, le=1.0)] = None
    archived: Flag = False
    archived_at: Timestamp = None
    protected: Flag = False
    extra: Properties = Field(default_factory=dict)
    """Other node properties, kept as they are."""
    vector: Embedding = None

    @field_validator("content", mode="before")
    @classmethod
    def _content(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        return value.strip()

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise ValueError("must be an object")
        if value and len(json.dumps(value, ensure_ascii=False).encode("utf-8")) > MAX_METADATA_BYTES:
            raise ValueError(f"must serialise to at most {MAX_METADATA_BYTES} bytes")
        return value


class RestoreNode(BaseModel):
    """A Pattern or Entity node, keyed by its `id` property."""

    model_config = ConfigDict(extra="ignore")

    label: Literal["Pattern", "Entity"]
    properties: Properties

    @field_validator("properties")
    @classmethod
    def _has_id(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value.get("id"), str) or not value["id"]:
            raise ValueError("must have a string 'id'")
        return value


class RestoreEdge(BaseModel):
    """An edge between two restored nodes; a legacy type is read as DISCOVERED with its `kind`."""

    model_config = ConfigDict(extra="ignore")

    type: str
    source: Annotated[str, Field(min_length=1, max_length=256)]
    target: Annotated[str, Field(min_length=1, max_length=256)]
    source_label: Literal["Memory", "Pattern", "Entity"] = "Memory"
    target_label: Literal["Memory", "Pattern", "Entity"] = "Memory"
    properties: Properties = Field(default_factory=dict)

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        name = str(value).strip().upper() if isinstance(value, str) else ""
        if name not in RESTORE_EDGE_TYPES and name not in RESTORE_LEGACY_EDGES:
            raise ValueError(f"must be one of {', '.join(sorted(RESTORE_EDGE_TYPES))}")
        return name

    @model_validator(mode="after")
    def _ends(self) -> RestoreEdge:
        if self.type in RESTORE_LEGACY_EDGES:
            self.properties.setdefault("kind", RESTORE_LEGACY_EDGES[self.type])
            self.type = RelationType.DISCOVERED.value
        for end in ("source", "target"):
            if getattr(self, f"{end}_label") == "Memory":
                try:
                    setattr(self, end, canonical_id(getattr(self, end)))
                except ValueError:
                    raise ValueError(f"{end} must be a memory id (a UUID)") from None
        return self


class RestorePage(BaseModel):
    """POST /admin/restore: one page of a restore. Validated whole before anything is written."""

    model_config = ConfigDict(extra="ignore")

    memories: Annotated[list[RestoreMemory], Field(max_length=RESTORE_PAGE_LIMIT)] = Field(default_factory=list)
    nodes: Annotated[list[RestoreNode], Field(max_length=RESTORE_PAGE_LIMIT)] = Field(default_factory=list)
    edges: Annotated[list[RestoreEdge], Field(max_length=RESTORE_EDGE_LIMIT)] = Field(default_factory=list)
    expect_empty: Flag = False
    """Refuse (409) unless the store holds no memory: the first page of a restore without --merge."""
