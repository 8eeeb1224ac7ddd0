"""Request models for memories: store, batch store, PATCH, pipeline status, re-enrichment, associations, listing.

Store and PATCH share one set of field rules (`MemoryFields`); PATCH is the same model
with every field optional. Limits that depend on settings (content length, vector size,
batch size) come in through the validation context.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from loci.errors import InvalidRequest
from loci.model import AUTHORABLE_RELATIONS, MEMORY_TYPES, RELATION_PROPERTIES, RelationType, normalize_type
from loci.schemas.fields import (
    MAX_METADATA_BYTES,
    Embedding,
    MemoryId,
    MemoryIds,
    MemoryTypes,
    Tags,
    Timestamp,
    UnitFloat,
)
from loci.schemas.graph import QueryFlag
from loci.timeutil import parse_timestamp


class MemoryFields(BaseModel):
    """Fields a memory can be written with; all optional (PATCH). Unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    content: str | None = None
    tags: Tags | None = None
    importance: UnitFloat | None = None
    confidence: UnitFloat | None = None
    metadata: dict[str, Any] | None = None
    type: str | None = None
    timestamp: Timestamp = None
    updated_at: Timestamp = None
    last_accessed: Timestamp = None
    t_valid: Timestamp = None
    t_invalid: Timestamp = None

    @field_validator("content", mode="before")
    @classmethod
    def _content(cls, value: Any, info: ValidationInfo) -> Any:
        # runs only when the key is present, so None here is an explicit null
        if not isinstance(value, str):
            raise ValueError("must be a non-empty string")
        text = value.strip()
        if not text:
            raise ValueError("must not be empty")
        limit = (info.context or {}).get("content_limit")
        if limit and len(text) > limit:
            raise ValueError(f"is {len(text)} characters; the limit is {limit} (MEMORY_CONTENT_HARD_LIMIT)")
        return text

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or normalize_type(value) is None:
            raise ValueError(f"must be one of {', '.join(MEMORY_TYPES)}")
        return normalize_type(value)

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ValueError("must be an object")
        if len(json.dumps(value, ensure_ascii=False).encode("utf-8")) > MAX_METADATA_BYTES:
            raise ValueError(f"must serialise to at most {MAX_METADATA_BYTES} bytes")
        return value


class StoreMemory(MemoryFields):
    """POST /memory."""

    content: str  # required here
    embedding: Embedding = None

    @field_validator("t_invalid")
    @classmethod
    def _valid_for_some_time(cls, value: str | None, info: ValidationInfo) -> str | None:
        # t_valid defaults to the timestamp; a memory invalid before it is valid is a mistake
        start = info.data.get("t_valid") or info.data.get("timestamp")
        if value is not None and start is not None and parse_timestamp(value) <= parse_timestamp(start):
            raise ValueError("must be after t_valid (which defaults to timestamp)")
        return value


class PatchMemory(MemoryFields):
    """PATCH /memory/<id>: any subset of the store fields.

    An explicit `null` clears `tags`, `metadata` and `t_invalid`; for other fields it
    leaves the stored value as it is. `null` content is refused.
    """


def _relation_type(value: Any) -> Any:
    if value is None:
        return RelationType.RELATES_TO
    name = str(value).strip().upper()
    if name not in {t.value for t in AUTHORABLE_RELATIONS}:
        raise ValueError(f"must be one of {', '.join(t.value for t in AUTHORABLE_RELATIONS)}")
    return RelationType(name)


class MemoryListing(BaseModel):
    """GET /memories's filters (its `limit` and `cursor` are read by `int_param` and `cursor_param`)."""

    model_config = ConfigDict(extra="ignore")

    types: MemoryTypes = Field(
        [],
        validation_alias=AliasChoices("type", "types"),
        description="Only memories of these types (repeated or comma-separated); an unknown type is a 400.",
    )
    include_archived: QueryFlag = Field(False, description="Also archived memories.")


STATUS_LIMIT = 10_000
REPROCESS_LIMIT = 1_000


class MemoryStatus(BaseModel):
    """GET and POST /memory/status."""

    model_config = ConfigDict(extra="ignore")

    ids: Annotated[MemoryIds, Field(min_length=1, max_length=STATUS_LIMIT)] = Field(
        description=f"Memory ids: a list, or comma-separated. At most {STATUS_LIMIT:,}."
    )


class Reprocess(BaseModel):
    """POST /enrichment/reprocess (the ids may come in the query string instead)."""

    model_config = ConfigDict(extra="ignore")

    ids: Annotated[MemoryIds, Field(min_length=1, max_length=REPROCESS_LIMIT)] = Field(
        description=f"Memory ids: a list, or comma-separated. At most {REPROCESS_LIMIT:,}."
    )


class StoreBatch(BaseModel):
    """POST /memory/batch: all or nothing; an invalid item is a 400 naming `memories[i].field`.

    The batch limit (MEMORY_BATCH_LIMIT) comes in the validation context as `batch_limit`
    and is checked before any item is."""

    model_config = ConfigDict(extra="ignore")

    memories: list[StoreMemory] = Field(min_length=1, description="At most MEMORY_BATCH_LIMIT items.")

    @field_validator("memories", mode="before")
    @classmethod
    def _within_limit(cls, value: Any, info: ValidationInfo) -> Any:
        limit = (info.context or {}).get("batch_limit")
        if isinstance(value, list) and limit and len(value) > limit:
            raise ValueError(f"Batch size limit is {limit} memories per request (got {len(value)})")
        return value


class Association(BaseModel):
    """One edge for POST /associate; type-specific properties ride along as extra keys."""

    model_config = ConfigDict(extra="allow")

    memory1_id: MemoryId
    memory2_id: MemoryId
    type: Annotated[RelationType, BeforeValidator(_relation_type)] = RelationType.RELATES_TO
    strength: Annotated[UnitFloat, BeforeValidator(lambda v: 0.5 if v is None else v)] = 0.5

    @field_validator("memory2_id")
    @classmethod
    def _distinct(cls, value: str, info: ValidationInfo) -> str:
        if value == (info.data or {}).get("memory1_id"):
            raise ValueError("must differ from memory1_id")
        return value

    def properties(self) -> dict[str, Any]:
        """The extra edge properties this relation type keeps, scalars only."""
        extras = self.model_extra or {}
        props: dict[str, Any] = {}
        for name in RELATION_PROPERTIES.get(self.type, ()):
            value = extras.get(name)
            if value is None:
                continue
            if not isinstance(value, str | int | float | bool):
                raise InvalidRequest(f"Invalid '{name}': must be a string or a number", field=name)
            props[name] = value
        return props
