"""Request models: every body and query string is validated here before anything is written.

Store and PATCH share one set of field rules (`MemoryFields`); PATCH is the same model
with every field optional. Limits that depend on settings (content length, vector size)
come in through the validation context. `validation_error` turns a pydantic error into
`InvalidRequest` naming the field, e.g. `Invalid 'importance': Input should be less than
or equal to 1`.

They sit below the HTTP layer, so the write path (loci/writes.py) and recall use them
without importing Flask; turning a query string into values (`loci.api.query_values`)
stays in loci/api/.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from loci.errors import InvalidRequest
from loci.model import AUTHORABLE_RELATIONS, MEMORY_TYPES, RELATION_PROPERTIES, RelationType, normalize_type
from loci.timeutil import iso, parse_timestamp

MAX_TAGS = 200
MAX_TAG_LENGTH = 256
MAX_METADATA_BYTES = 64 * 1024


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def _timestamp(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 string")
    return iso(parse_timestamp(value))


def _tags(value: Any) -> list[str]:
    """`null` -> [], a string -> one tag, a list -> its strings (trimmed, empties and repeats dropped)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise ValueError("must be a list of strings or a single string")
    tags = list(dict.fromkeys(tag.strip() for tag in value if tag.strip()))
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    if any(len(tag) > MAX_TAG_LENGTH for tag in tags):
        raise ValueError(f"each tag must be at most {MAX_TAG_LENGTH} characters")
    return tags


def _embedding(value: Any, info: ValidationInfo) -> Any:
    """A vector as a list of numbers or a comma-separated string, of the store's dimension."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise ValueError("must be a non-empty list of numbers")
    try:
        vector = [float(_not_bool(item)) for item in value]
    except (TypeError, ValueError):
        raise ValueError("must contain only numbers") from None
    if not all(math.isfinite(x) for x in vector):
        raise ValueError("must contain only finite numbers")
    dimension = (info.context or {}).get("dimension")
    if dimension and len(vector) != dimension:
        raise ValueError(f"must contain exactly {dimension} values (got {len(vector)})")
    return vector


UnitFloat = Annotated[float, BeforeValidator(_not_bool), Field(ge=0.0, le=1.0)]
Timestamp = Annotated[str | None, BeforeValidator(_timestamp)]
Tags = Annotated[list[str], BeforeValidator(_tags)]
Embedding = Annotated[list[float] | None, BeforeValidator(_embedding)]


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


def canonical_id(value: object) -> str:
    """A memory id in canonical form (lower case, hyphens); ValueError unless it is a UUID string."""
    if not isinstance(value, str):
        raise ValueError("must be a UUID string")
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise ValueError("must be a valid UUID") from None


def _uuid(value: Any) -> Any:
    return canonical_id(value)


MemoryId = Annotated[str, BeforeValidator(_uuid)]


def _split_ids(value: Any) -> Any:
    """A list of ids or comma-separated strings (or one such string) as one flat list; blanks dropped."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("must be a list of memory ids or a comma-separated string")
    flat: list[Any] = []
    for item in value:
        if isinstance(item, str):
            flat.extend(part for part in item.split(",") if part.strip())
        else:
            flat.append(item)
    return flat


MemoryIds = Annotated[
    list[MemoryId],
    BeforeValidator(_split_ids, json_schema_input_type=list[str] | str),
    AfterValidator(lambda ids: list(dict.fromkeys(ids))),
]
"""Memory ids, canonical and each once: a list, or strings of comma-separated ids (a repeated
query parameter); a malformed one is named by its position, e.g. `ids[2]`."""

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


def validation_error(exc: ValidationError) -> InvalidRequest:
    """The first pydantic error as an InvalidRequest naming its field."""
    error = exc.errors()[0]
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required"
    return InvalidRequest(f"Invalid '{field}': {message}" if field else message, field=field or None)


Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], data: Any, **context: Any) -> Model:
    """Validate `data` against `model`, raising InvalidRequest (400) on the first error."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise validation_error(exc) from None


def _strict_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


Flag = Annotated[bool, BeforeValidator(_strict_bool)]


class AdminReembed(BaseModel):
    """POST /admin/reembed."""

    model_config = ConfigDict(extra="ignore")

    limit: int | None = Field(None, ge=1)
    """Only the newest `limit` memories."""
    force: Flag = False
    """Compute new vectors even where the stored one is current (otherwise only payloads are rewritten)."""
    dry_run: Flag = False
    batch_size: int | None = Field(None, ge=1, le=1000)
    """Accepted for AutoMem clients; the embedding worker's own batching applies."""


class AdminSync(BaseModel):
    """POST /admin/sync."""

    model_config = ConfigDict(extra="ignore")

    dry_run: Flag = False
    batch_size: int | None = Field(None, ge=1, le=1000)


class Consolidate(BaseModel):
    """POST /consolidate."""

    model_config = ConfigDict(extra="ignore")

    mode: Literal["full", "decay", "creative", "cluster", "forget"] = "full"
    dry_run: Flag = True


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


SNAPSHOT_MAX_NODES = 50_000
"""Most memories one /graph/snapshot shows (`limit=0` asks for this many)."""


def _names(value: Any) -> list[str]:
    """Comma-separated names (or a list of such strings), trimmed; known memory types in canonical form."""
    items = value if isinstance(value, list) else [value]
    names = (part.strip() for item in items for part in str(item).split(","))
    return list(dict.fromkeys(normalize_type(name) or name for name in names if name))


def _query_flag(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


QueryFlag = Annotated[bool, BeforeValidator(_query_flag)]
"""A boolean in a query string: true/false, 1/0, yes/no, y/n, on/off, t/f, any case; anything else is a 400."""


class GraphSnapshotQuery(BaseModel):
    """GET /graph/snapshot."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(
        500,
        ge=0,
        description=f"Most memories shown, the most important first; 0 = all, up to {SNAPSHOT_MAX_NODES:,} "
        "(larger values are clamped to it).",
    )
    min_importance: float | None = Field(
        None, allow_inf_nan=False, description="Only memories at least this important (those without one are left out)."
    )
    types: Annotated[list[str], BeforeValidator(_names)] = Field(
        default_factory=list, description="Only memories of these types (comma-separated)."
    )
    since: Timestamp = Field(None, description="Only memories whose timestamp is at or after this ISO-8601 time.")

    @property
    def node_limit(self) -> int:
        return SNAPSHOT_MAX_NODES if self.limit == 0 else min(self.limit, SNAPSHOT_MAX_NODES)


NEIGHBOR_MAX_DEPTH = 3
SEMANTIC_MAX_LIMIT = 20


class GraphNeighborsQuery(BaseModel):
    """GET /graph/neighbors/<id>."""

    model_config = ConfigDict(extra="ignore")

    depth: Annotated[int, AfterValidator(lambda v: max(1, min(NEIGHBOR_MAX_DEPTH, v)))] = Field(
        1, description=f"Hops over edges of any type, either direction; clamped to 1..{NEIGHBOR_MAX_DEPTH}."
    )
    include_semantic: QueryFlag = Field(
        True, description="Also the memories nearest to this one's vector (none until it is embedded)."
    )
    semantic_limit: Annotated[int, AfterValidator(lambda v: max(0, min(SEMANTIC_MAX_LIMIT, v)))] = Field(
        5, description=f"Most semantic neighbours; clamped to 0..{SEMANTIC_MAX_LIMIT}."
    )
