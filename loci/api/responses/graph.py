"""Response models of the graph viewer API (/graph/*)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from loci.api.responses.base import Body, Memory


class GraphNode(Body):
    """A memory as the graph viewer draws it: colour by type, radius 0.5 + 1.5 x importance, opacity
    0.4 + 0.6 x confidence."""

    id: str
    content: str
    type: str
    importance: float
    confidence: float
    tags: list[str]
    color: str
    radius: float
    opacity: float
    timestamp: str | None = Field(None, description="In a snapshot.")
    updated_at: str | None = Field(None, description="In a snapshot.")
    metadata: dict[str, Any] | None = Field(None, description="In a snapshot.")


class GraphEdge(Body):
    id: str = Field(description="`<source>-<TYPE>-<target>`.")
    source: str
    target: str
    type: str
    strength: float = Field(description="Its strength, score or confidence; 0.5 when it has none.")
    color: str
    properties: dict[str, Any]


class GraphMeta(Body):
    type_colors: dict[str, str]
    relation_colors: dict[str, str]
    query_time_ms: float
    archive_threshold: float


class SnapshotStats(Body):
    total_nodes: int = Field(description="Memories in the graph.")
    total_edges: int = Field(description="Edges between memories in the graph.")
    returned_nodes: int
    returned_edges: int
    matching_nodes: int = Field(description="Memories passing the filters.")
    sampled: bool = Field(description="The limit left some of the matching memories out.")
    sample_ratio: float = Field(description="returned_nodes / matching_nodes.")
    sampling: Literal["importance"] = Field(description="Which are kept: the most important, then newest.")


class GraphSnapshot(Body):
    """GET /graph/snapshot."""

    nodes: list[GraphNode]
    edges: list[GraphEdge] = Field(description="Only edges whose both ends are among `nodes`.")
    stats: SnapshotStats
    meta: GraphMeta


class GraphCenter(Memory):
    color: str
    radius: float
    opacity: float


class GraphNeighbor(GraphNode):
    hops: int = Field(description="Edges between it and the centre.")


class SemanticNeighbor(GraphNode):
    similarity: float = Field(description="Cosine similarity of its vector to the centre's.")


class NeighborsMeta(Body):
    depth: int
    semantic: Literal["ok", "off", "not_embedded", "unavailable"]
    query_time_ms: float


class GraphNeighbors(Body):
    """GET /graph/neighbors/<id>."""

    center: GraphCenter
    graph_neighbors: list[GraphNeighbor]
    semantic_neighbors: list[SemanticNeighbor]
    edges: list[GraphEdge]
    meta: NeighborsMeta


class GraphTotals(Body):
    nodes: int
    edges: int


class ImportanceBands(Body):
    high: int = Field(description="Importance 0.8 and above.")
    medium: int
    low: int = Field(description="Below 0.5.")


class DayCount(Body):
    date: str
    count: int


class GraphStats(Body):
    """GET /graph/stats."""

    totals: GraphTotals
    by_type: dict[str, int]
    by_relationship: dict[str, int]
    importance_distribution: ImportanceBands
    recent_activity: list[DayCount] = Field(description="Memories per day over the last 7 days, newest first.")
    meta: GraphMeta


class GraphTypes(Body):
    """GET /graph/types."""

    types: list[str]
    colors: dict[str, str]


class GraphRelations(Body):
    """GET /graph/relations."""

    relations: list[str]
    colors: dict[str, str]
