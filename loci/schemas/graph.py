"""Request models for the graph viewer API (loci/api/graph.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from loci.model import normalize_type
from loci.schemas.fields import (
    Timestamp,
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
