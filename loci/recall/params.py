"""RecallParams: the /recall query string, validated, with AutoMem's parameter aliases.

Bad values are answered with 400 naming the parameter (an unparsable limit, an unknown
sort or state mode, a malformed timestamp or boolean). Numbers in range are clamped to
their limits, as AutoMem does (`limit=500` becomes RECALL_MAX_LIMIT).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from loci.errors import InvalidRequest
from loci.model import tag_keys_from_query
from loci.schemas import Embedding, Timestamp, parse
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

    @field_validator("query", "time_query", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        text = str(value).strip() if value is not None else ""
        return None if text in {"", "*"} else text

    @field_validator("tag_mode", "tag_match", "sort", "state_mode", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("limit", "relation_limit", "expansion_limit", mode="after")
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
        data = dict(args)
        bounds = {"limit": (1, max_limit), "relation_limit": (1, 200), "expansion_limit": (1, 500)}
        params: RecallParams = parse(cls, data, bounds=bounds, dimension=dimension)
        if params.start and params.end and params.start > params.end:
            raise InvalidRequest("Invalid 'start': must not be after 'end'", field="start")
        return params
