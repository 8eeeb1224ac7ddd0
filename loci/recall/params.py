"""RecallParams: the /recall query string, validated, with AutoMem's parameter aliases.

Bad values are answered with 400 naming the parameter (an unparsable limit, an unknown
sort or state mode, a malformed timestamp or boolean). Numbers in range are clamped to
their limits, as AutoMem does (`limit=500` becomes RECALL_MAX_LIMIT).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from loci.config import RecencyBias
from loci.errors import InvalidRequest
from loci.model import tag_keys_from_query
from loci.schemas import Embedding, MemoryIds, MemoryTypes, Timestamp, parse
from loci.stores.filters import TagMatch, TagMode


class SortMode(StrEnum):
    SCORE = "score"
    TIME_DESC = "time_desc"
    TIME_ASC = "time_asc"
    UPDATED_DESC = "updated_desc"
    UPDATED_ASC = "updated_asc"


class StateMode(StrEnum):
    CURRENT = "current"
    """Hide archived, expired, not-yet-valid and superseded memories (the default)."""
    HISTORY = "history"
    """Return everything, superseded memories included."""


MAX_QUERIES = 10
MAX_PRIORITY_IDS = 100
NOT_RECALL_PARAMS = frozenset({"api_key", "admin_token"})
"""Query parameters the API reads before recall (credentials)."""


def _tag_keys(value: Any) -> list[str]:
    return tag_keys_from_query(str(item) for item in (value if isinstance(value, list) else [value]))


def _queries(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    queries = list(dict.fromkeys(q.strip() for item in items for q in str(item).split(",") if q.strip()))
    if len(queries) > MAX_QUERIES:
        raise ValueError(f"at most {MAX_QUERIES} queries")
    return queries


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


Flag = Annotated[bool | None, BeforeValidator(_strip)]
UnitScore = Annotated[
    float | None, Field(allow_inf_nan=False), AfterValidator(lambda v: None if v is None else max(0.0, min(1.0, v)))
]
"""A number clamped to 0..1 (as AutoMem clamps them)."""
"""pydantic's lax booleans: true/false, 1/0, yes/no, y/n, on/off, t/f, any case."""
TagKeys = Annotated[list[str], BeforeValidator(_tag_keys)]


class RecallParams(BaseModel):
    model_config = ConfigDict(extra="ignore", use_enum_values=False)

    # AutoMem's other names for a parameter follow its own, which wins when both are given
    query: str | None = Field(None, validation_alias=AliasChoices("query", "q"))
    queries: Annotated[list[str], BeforeValidator(_queries)] = []
    """Several queries at once: each is searched on its own, the results merged."""
    limit: int = 5
    tags: TagKeys = []
    tag_mode: TagMode = TagMode.ANY
    tag_match: TagMatch = TagMatch.PREFIX
    exclude_tags: TagKeys = []
    # Loci's own filters (AutoMem has neither): the record decides, vector payloads only narrow the search
    types: MemoryTypes = Field([], validation_alias=AliasChoices("types", "type"))
    """Only memories of these types; an unknown type is a 400 listing the known ones."""
    min_importance: UnitScore = None
    """Only memories at least this important (clamped to 0..1)."""
    time_query: str | None = Field(None, validation_alias=AliasChoices("time_query", "time"))
    start: Timestamp = None
    end: Timestamp = None
    sort: SortMode = Field(SortMode.SCORE, validation_alias=AliasChoices("sort", "order_by"))
    expand_relations: Flag = Field(
        False, validation_alias=AliasChoices("expand_relations", "expand_associations", "expand")
    )
    relation_limit: int | None = None
    expansion_limit: int | None = Field(
        None, validation_alias=AliasChoices("expansion_limit", "relation_expansion_limit")
    )
    state_mode: StateMode = StateMode.CURRENT
    current_only: Flag = None
    min_score: Annotated[float | None, Field(allow_inf_nan=False)] = None
    embedding: Embedding = None
    # what AutoMem's recall options add (docs/recall.md says what each does)
    priority_ids: Annotated[MemoryIds, Field(max_length=MAX_PRIORITY_IDS)] = []
    """Memories that must be in the results, read by id."""
    auto_decompose: Flag = False
    per_query_limit: int | None = None
    """Results taken from each query of a multi-query recall (default: `limit`)."""
    scope_fallback: Flag = False
    expand_entities: Flag = Field(False, validation_alias=AliasChoices("expand_entities", "entity_expansion"))
    expand_respect_tags: Flag = False
    expand_min_importance: UnitScore = None
    expand_min_strength: UnitScore = None
    recency_bias: RecencyBias | None = None
    """Default: RECALL_RECENCY_BIAS."""
    adaptive_floor: Flag = None
    """Default: RECALL_ADAPTIVE_FLOOR."""
    context: str | None = None
    language: str | None = Field(None, validation_alias=AliasChoices("language", "lang"))
    active_path: str | None = Field(None, validation_alias=AliasChoices("active_path", "file_path", "focus_path"))
    context_tags: TagKeys = []
    context_types: MemoryTypes = []
    state_debug: Flag = False
    ignored: list[str] = Field(default=[], exclude=True)
    """Parameters given that recall does not know (named in the response's warnings)."""

    @field_validator("query", "time_query", "context", "language", "active_path", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        text = str(value).strip() if value is not None else ""
        return None if text in {"", "*"} else text

    @field_validator("tag_mode", "tag_match", "sort", "state_mode", "recency_bias", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("limit", "relation_limit", "expansion_limit", "per_query_limit", mode="after")
    @classmethod
    def _clamp(cls, value: int | None, info: ValidationInfo) -> int | None:
        bounds = (info.context or {}).get("bounds", {}).get(info.field_name)
        if value is None or not bounds:
            return value
        return max(bounds[0], min(bounds[1], value))

    @field_validator("min_score", mode="after")
    @classmethod
    def _unit(cls, value: float | None) -> float | None:
        return None if value is None else max(0.0, min(1.0, value))

    @property
    def current_state(self) -> bool:
        if self.current_only is not None:
            return self.current_only
        return self.state_mode is StateMode.CURRENT

    @classmethod
    def from_args(cls, args: Mapping[str, str | list[str]], *, max_limit: int, dimension: int) -> RecallParams:
        """Parse a query string's values (the API gives each list parameter all its values and
        refuses a repeated scalar: `loci.api.query_values`); aliases are resolved."""
        data = {name: value for name, value in args.items() if name != "ignored"}
        bounds = {
            "limit": (1, max_limit),
            "relation_limit": (1, 200),
            "expansion_limit": (1, 500),
            "per_query_limit": (1, max_limit),
        }
        params: RecallParams = parse(cls, data, bounds=bounds, dimension=dimension)
        params.ignored = sorted(name for name in args if name not in known_names() and name not in NOT_RECALL_PARAMS)
        if params.start and params.end and params.start > params.end:
            raise InvalidRequest("Invalid 'start': must not be after 'end'", field="start")
        return params


@cache
def known_names() -> frozenset[str]:
    """Every name a recall parameter is accepted by: field names and their aliases."""
    names: set[str] = set()
    for name, info in RecallParams.model_fields.items():
        if name == "ignored":
            continue
        names.add(name)
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
    return frozenset(names)
