"""Relationship routes: create edges (one or a batch) and walk them from a memory."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import Blueprint, jsonify, request

from loci.api.inputs import int_param, json_object, memory_id_param, services
from loci.errors import InvalidRequest, LociError, NotFound
from loci.model import AUTHORABLE_RELATIONS, LEGACY_RELATION_NAMES, Memory, RelationType
from loci.schemas import Association, parse
from loci.timeutil import iso, utcnow

bp = Blueprint("associations", __name__)

BATCH_LIMIT = 500
RELATED_MAX_DEPTH = 3
RELATED_MAX_LIMIT = 200


@bp.post("/associate")
def associate() -> Any:
    """One edge (`memory1_id`, `memory2_id`, `type`, `strength`) or a batch under `associations`."""
    body = json_object()
    if "associations" in body:
        return _associate_batch(body["associations"])
    link = parse(Association, body)
    props = link.properties()
    row = {"idx": 0, "src": link.memory1_id, "dst": link.memory2_id, "strength": link.strength, "props": props}
    if not services().graph.relations.associate(link.type, [row], iso(utcnow())):
        raise NotFound("One or both memories do not exist")
    return jsonify(
        {
            "status": "success",
            "message": f"Association created: {link.memory1_id} -[{link.type.value}]-> {link.memory2_id}",
            "relation_type": link.type.value,
            "strength": link.strength,
            **props,
        }
    ), 201


def _associate_batch(items: Any) -> Any:
    if not isinstance(items, list) or not items:
        raise InvalidRequest("'associations' must be a non-empty list", field="associations")
    if len(items) > BATCH_LIMIT:
        raise InvalidRequest(f"Batch size limit is {BATCH_LIMIT} associations per request", field="associations")
    failed: list[dict[str, Any]] = []
    by_type: dict[RelationType, list[dict[str, Any]]] = defaultdict(list)
    links: dict[int, Association] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            failed.append({"index": index, "reason": "must be an object"})
            continue
        try:
            link = parse(Association, item)
            props = link.properties()
        except InvalidRequest as exc:
            failed.append({"index": index, "reason": exc.message})
            continue
        links[index] = link
        by_type[link.type].append(
            {"idx": index, "src": link.memory1_id, "dst": link.memory2_id, "strength": link.strength, "props": props}
        )
    landed: set[int] = set()
    now = iso(utcnow())
    for relation, rows in by_type.items():
        try:
            landed.update(services().graph.relations.associate(relation, rows, now))
        except LociError as exc:
            failed += [{"index": row["idx"], "reason": exc.message} for row in rows]
            landed.difference_update(row["idx"] for row in rows)
            continue
        failed += [
            {"index": row["idx"], "reason": "One or both memories do not exist"}
            for row in rows
            if row["idx"] not in landed
        ]
    succeeded = [
        {
            "index": i,
            "memory1_id": links[i].memory1_id,
            "memory2_id": links[i].memory2_id,
            "relation_type": links[i].type.value,
            "strength": links[i].strength,
        }
        for i in sorted(landed)
    ]
    failed.sort(key=lambda f: f["index"])
    body = {
        "status": "success" if not failed else "partial_success",
        "created_count": len(succeeded),
        "failed_count": len(failed),
        "succeeded": succeeded,
        "failed": failed,
        "summary": f"{len(succeeded)}/{len(items)} associations created successfully",
    }
    return jsonify(body), 201 if not failed else 207


def relation_types_param() -> list[RelationType]:
    """`relationship_types` (comma list) canonicalised; system types only when named; 400 if none is valid."""
    raw = ",".join(request.args.getlist("relationship_types"))  # repeated or comma-separated
    names = [part.strip().upper() for part in raw.split(",") if part.strip()]
    if not names:
        return list(AUTHORABLE_RELATIONS)
    valid = {t.value: t for t in RelationType}
    chosen = [LEGACY_RELATION_NAMES.get(name) or valid.get(name) for name in names]
    unknown = [name for name, kind in zip(names, chosen, strict=True) if kind is None]
    if unknown:
        raise InvalidRequest(
            f"Invalid 'relationship_types': unknown {', '.join(unknown)}; known: {', '.join(valid)}",
            field="relationship_types",
        )
    return list(dict.fromkeys(kind for kind in chosen if kind is not None))


@bp.get("/memories/<memory_id>/related")
def related(memory_id: str) -> Any:
    """Memories reachable within `max_depth` hops over the chosen relationship types."""
    svc = services()
    memory_id = memory_id_param(memory_id)
    types = relation_types_param()
    depth = int_param("max_depth", 1, 1, RELATED_MAX_DEPTH)
    limit = int_param("limit", svc.settings.recall_relation_limit, 1, RELATED_MAX_LIMIT)
    found = svc.graph.relations.related(memory_id, types, depth, limit)
    return jsonify(
        {
            "status": "success",
            "memory_id": memory_id,
            "count": len(found),
            "related_memories": [_summary(item.memory, item.relation_types, item.depth) for item in found],
            "relationship_types": [t.value for t in types],
            "max_depth": depth,
            "limit": limit,
        }
    )


def _summary(memory: Memory, relation_types: list[str], depth: int) -> dict[str, Any]:
    return {
        "id": memory.id,
        "type": memory.type,
        "timestamp": memory.timestamp,
        "summary": memory.summary,
        "content": memory.content if len(memory.content) <= 160 else memory.content[:157] + "...",
        "importance": memory.importance,
        "confidence": memory.confidence,
        "tags": memory.tags[:5],
        "relation_types": relation_types,
        "depth": depth,
    }
