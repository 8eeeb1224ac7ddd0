"""The graph viewer's data API (/graph/*): AutoMem's shapes, answered from Loci's graph.

- `snapshot`: the memories passing the filters (the most important first, at most `limit`)
  and the edges among them; `stats.sampled` says whether the limit left matches out.
- `neighbors/<id>`: the memories within `depth` hops and, from the vector store, the ones
  nearest to its vector.
- `stats`, `types`, `relations`: counts, and the palette the viewer draws with.

Success bodies have no `status` field (as AutoMem's); errors are Loci's envelope. Nodes
carry the viewer's drawing hints: `color` by type, `radius` = 0.5 + 1.5 x importance,
`opacity` = 0.4 + 0.6 x confidence. Every query is in `loci.stores.graph.explore`.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from flask import Blueprint, jsonify, request

from loci.api.inputs import memory_id_param, query_values, services
from loci.errors import NotFound, VectorStoreUnavailable
from loci.model import MEMORY_TYPES, Memory, RelationType, epoch
from loci.schemas import GraphNeighborsQuery, GraphSnapshotQuery, parse
from loci.services import Services
from loci.stores.filters import MemoryFilter
from loci.stores.graph.explore import Edge, SnapshotFilter
from loci.timeutil import utcnow

log = logging.getLogger(__name__)

bp = Blueprint("graph", __name__, url_prefix="/graph")

TYPE_COLORS: dict[str, str] = {
    "Decision": "#3B82F6",
    "Pattern": "#10B981",
    "Preference": "#8B5CF6",
    "Style": "#EC4899",
    "Habit": "#F59E0B",
    "Insight": "#F97316",
    "Context": "#6B7280",
    "Memory": "#94A3B8",
}
"""AutoMem's palette; any other type is drawn in the colour of `Memory`."""

RELATION_COLORS: dict[str, str] = {
    "RELATES_TO": "#94A3B8",
    "LEADS_TO": "#3B82F6",
    "OCCURRED_BEFORE": "#6B7280",
    "PREFERS_OVER": "#8B5CF6",
    "EXEMPLIFIES": "#10B981",
    "CONTRADICTS": "#EF4444",
    "REINFORCES": "#22C55E",
    "INVALIDATED_BY": "#F97316",
    "EVOLVED_INTO": "#06B6D4",
    "DERIVED_FROM": "#A855F7",
    "PART_OF": "#64748B",
    "SIMILAR_TO": "#EAB308",
    "PRECEDED_BY": "#78716C",
    "DISCOVERED": "#D946EF",
}
DEFAULT_COLOR = "#94A3B8"

CANONICAL_TYPES = MEMORY_TYPES[:7]
PUBLIC_RELATIONS = sorted(kind.value for kind in RelationType if kind is not RelationType.DISCOVERED)
"""What /graph/relations lists: every type but consolidation's DISCOVERED links (as AutoMem)."""

NEIGHBOR_LIMIT = 100
"""Most graph neighbours /graph/neighbors returns (AutoMem's 100 rows)."""
HIGH_IMPORTANCE, LOW_IMPORTANCE = 0.8, 0.5
ACTIVITY_DAYS = 7
STRENGTH_PROPERTIES = ("strength", "score", "confidence", "similarity")
"""An edge's strength is the first of these it has (SIMILAR_TO keeps `score`, DISCOVERED `confidence`)."""


def _visual(memory: Memory) -> dict[str, Any]:
    return {
        "color": TYPE_COLORS.get(memory.type, TYPE_COLORS["Memory"]),
        "radius": 0.5 + memory.importance * 1.5,
        "opacity": 0.4 + memory.confidence * 0.6,
    }


def _node(memory: Memory, *, detailed: bool) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": memory.id,
        "content": memory.content,
        "type": memory.type,
        "importance": memory.importance,
        "confidence": memory.confidence,
        "tags": memory.tags,
    }
    if detailed:
        node.update(timestamp=memory.timestamp, updated_at=memory.updated_at, metadata=memory.metadata)
    return {**node, **_visual(memory)}


def _strength(properties: dict[str, Any]) -> float:
    for name in STRENGTH_PROPERTIES:
        value = properties.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return 0.5


def _edge(edge: Edge) -> dict[str, Any]:
    return {
        "id": edge.id,
        "source": edge.source,
        "target": edge.target,
        "type": edge.type,
        "strength": _strength(edge.properties),
        "color": RELATION_COLORS.get(edge.type, DEFAULT_COLOR),
        "properties": edge.properties,
    }


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _palette(svc: Services, started: float) -> dict[str, Any]:
    return {
        "type_colors": TYPE_COLORS,
        "relation_colors": RELATION_COLORS,
        "query_time_ms": _elapsed_ms(started),
        "archive_threshold": svc.settings.consolidation_archive_threshold,
    }


@bp.get("/snapshot")
def snapshot() -> Any:
    """The most important memories passing the filters, and the edges among them."""
    started = time.perf_counter()
    svc = services()
    query = parse(GraphSnapshotQuery, query_values(request.args))
    explore = svc.graph.explore
    where = SnapshotFilter(query.min_importance, tuple(query.types), epoch(query.since) if query.since else None)
    ranking = explore.ranked(where, query.node_limit)
    memories = explore.memories(ranking.ids)
    edges = explore.edges_among([memory.id for memory in memories])
    total_nodes, total_edges = explore.totals()
    matching = max(ranking.matching, len(memories))
    log.info(
        "graph snapshot",
        extra={"event": "graph.snapshot", "nodes": len(memories), "edges": len(edges), "matching": matching},
    )
    return jsonify(
        {
            "nodes": [_node(memory, detailed=True) for memory in memories],
            "edges": [_edge(edge) for edge in edges],
            "stats": {
                "total_nodes": total_nodes,
                "total_edges": total_edges,
                "returned_nodes": len(memories),
                "returned_edges": len(edges),
                "matching_nodes": matching,
                "sampled": len(memories) < matching,
                "sample_ratio": len(memories) / matching if matching else 1.0,
                "sampling": "importance",
            },
            "meta": {**_palette(svc, started), "limit": query.node_limit},
        }
    )


@bp.get("/neighbors/<memory_id>")
def neighbors(memory_id: str) -> Any:
    """Memories within `depth` hops of this one, and the ones nearest to its vector."""
    started = time.perf_counter()
    svc = services()
    memory_id = memory_id_param(memory_id)
    query = parse(GraphNeighborsQuery, query_values(request.args))
    center = svc.graph.memories.get(memory_id)
    if center is None:
        raise NotFound(f"Memory {memory_id} not found")
    around = svc.graph.explore.neighborhood(memory_id, query.depth, NEIGHBOR_LIMIT)
    shown = {memory_id, *(neighbor.memory.id for neighbor in around.neighbors)}
    semantic, semantic_status = _semantic_neighbors(svc, memory_id, shown, query)
    return jsonify(
        {
            "center": {**center.to_api(), **_visual(center)},
            "graph_neighbors": [{**_node(n.memory, detailed=False), "hops": n.hops} for n in around.neighbors],
            "semantic_neighbors": semantic,
            "edges": [_edge(edge) for edge in around.edges],
            "meta": {"depth": query.depth, "semantic": semantic_status, "query_time_ms": _elapsed_ms(started)},
        }
    )


def _semantic_neighbors(
    svc: Services, memory_id: str, shown: set[str], query: GraphNeighborsQuery
) -> tuple[list[dict[str, Any]], str]:
    """The memories nearest to this one's stored vector that the graph part does not already show, and
    how that went: "ok", "off" (not asked for), "not_embedded" (no vector yet) or "unavailable"."""
    if not query.include_semantic or query.semantic_limit == 0:
        return [], "off"
    try:
        points = svc.vectors.retrieve([memory_id], with_vectors=True)
        if not points or not points[0].vector:
            return [], "not_embedded"
        hits = svc.vectors.search(
            points[0].vector, query.semantic_limit + len(shown), MemoryFilter(include_archived=True)
        )
    except VectorStoreUnavailable as exc:  # the graph part still answers
        log.warning(
            "semantic neighbours unavailable",
            extra={"event": "graph.semantic_unavailable", "memory_id": memory_id, "error": exc.message},
        )
        return [], "unavailable"
    similarity = {hit.id: hit.score for hit in hits if hit.id not in shown}
    nearest = list(similarity)[: query.semantic_limit]
    found = svc.graph.explore.memories(nearest)  # the graph is the record; a payload may lag behind it
    return [{**_node(m, detailed=False), "similarity": round(similarity[m.id], 4)} for m in found], "ok"


@bp.get("/stats")
def stats() -> Any:
    """Counts by type and relation, importance bands, memories per day over the last week."""
    started = time.perf_counter()
    svc = services()
    explore = svc.graph.explore
    nodes, edges = explore.totals()
    since = utcnow() - timedelta(days=ACTIVITY_DAYS)
    return jsonify(
        {
            "totals": {"nodes": nodes, "edges": edges},
            "by_type": explore.count_by_type(),
            "by_relationship": explore.count_by_relation(),
            "importance_distribution": explore.importance_bands(HIGH_IMPORTANCE, LOW_IMPORTANCE),
            "recent_activity": [{"date": day, "count": n} for day, n in explore.per_day(since.timestamp())],
            "meta": _palette(svc, started),
        }
    )


@bp.get("/types")
def types() -> Any:
    """The memory types and their colours."""
    return jsonify({"types": list(CANONICAL_TYPES), "colors": TYPE_COLORS})


@bp.get("/relations")
def relations() -> Any:
    """The relation types the viewer shows and their colours."""
    return jsonify({"relations": PUBLIC_RELATIONS, "colors": RELATION_COLORS})
