"""Memory routes: store, fetch, update, delete one memory; list or delete by tag."""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import Blueprint, jsonify, request

from loci import memories
from loci.api import json_object, services
from loci.api.schemas import PatchMemory, StoreMemory, parse
from loci.errors import InvalidRequest
from loci.memory import tag_keys_from_query

bp = Blueprint("memory", __name__)

BY_TAG_DEFAULT_LIMIT = 20
BY_TAG_MAX_LIMIT = 200


def memory_id_param(value: str) -> str:
    """A path id in canonical form, or 400."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidRequest("memory_id must be a valid UUID", field="memory_id") from None


@bp.post("/memory")
def store() -> Any:
    """Store one memory; 201 with its id as soon as the graph has it."""
    started = time.perf_counter()
    svc = services()
    req = parse(
        StoreMemory,
        json_object(),
        content_limit=svc.settings.memory_content_hard_limit,
        dimension=svc.vectors.dimension,
    )
    memory = memories.store(svc, req)
    vector_given = req.embedding is not None
    body = {
        "status": "success",
        "memory_id": memory.id,
        "stored_at": memory.stored_at,
        "type": memory.type,
        "confidence": memory.confidence,
        "importance": memory.importance,
        "tags": memory.tags,
        "qdrant": "stored" if vector_given else "queued",
        "embedding_status": "provided" if vector_given else "queued",
        "enrichment": "disabled",
        "metadata": memory.metadata,
        "timestamp": memory.timestamp,
        "updated_at": memory.updated_at,
        "last_accessed": memory.last_accessed,
        "query_time_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    return jsonify(body), 201


@bp.get("/memory/<memory_id>")
def get(memory_id: str) -> Any:
    memory = memories.get(services(), memory_id_param(memory_id))
    return jsonify({"status": "success", "memory": memory.to_api()})


@bp.patch("/memory/<memory_id>")
def update(memory_id: str) -> Any:
    """Change any subset of fields, validated like a store; content changes re-queue the embedding."""
    svc = services()
    memory_id = memory_id_param(memory_id)
    patch = parse(PatchMemory, json_object(), content_limit=svc.settings.memory_content_hard_limit)
    memory = memories.update(svc, memory_id, patch)
    return jsonify({"status": "success", "memory_id": memory.id, "memory": memory.to_api()})


@bp.delete("/memory/<memory_id>")
def delete(memory_id: str) -> Any:
    memory_id = memory_id_param(memory_id)
    memories.delete(services(), memory_id)
    return jsonify({"status": "success", "memory_id": memory_id})


def tag_keys_param() -> list[str]:
    """`tags` from the query string (repeated or comma-separated) in comparison form, or 400."""
    keys = tag_keys_from_query(request.args.getlist("tags"))
    if not keys:
        raise InvalidRequest("'tags' query parameter is required", field="tags")
    return keys


def int_param(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter clamped to [low, high]; 400 if it is not an integer."""
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"Invalid '{name}': must be an integer", field=name) from None
    return max(low, min(high, value))


@bp.get("/memory/by-tag")
def by_tag() -> Any:
    svc = services()
    keys = tag_keys_param()
    limit = int_param("limit", BY_TAG_DEFAULT_LIMIT, 1, BY_TAG_MAX_LIMIT)
    offset = int_param("offset", 0, 0, 10**9)
    found = svc.graph.memories_by_tag(keys, limit + 1, offset)
    page = found[:limit]
    svc.access.record(m.id for m in page)
    return jsonify(
        {
            "status": "success",
            "tags": keys,
            "count": len(page),
            "limit": limit,
            "offset": offset,
            "has_more": len(found) > limit,
            "memories": [m.to_api() for m in page],
        }
    )


@bp.delete("/memory/by-tag")
def delete_by_tag() -> Any:
    keys = tag_keys_param()
    deleted = memories.delete_by_tag(services(), keys)
    return jsonify({"status": "success", "tags": keys, "deleted_count": deleted})
