"""Memory routes: store, fetch, update, delete one memory; list or delete by tag; browse newest first."""

from __future__ import annotations

import time
from typing import Any, TypedDict

from flask import Blueprint, jsonify, request

from loci.api.idempotency import idempotent
from loci.api.inputs import (
    cursor_param,
    int_param,
    json_object,
    memory_id_param,
    page_cursor,
    query_values,
    services,
)
from loci.errors import InvalidRequest
from loci.model import StageStatus, tag_keys_from_query
from loci.schemas import MemoryListing, MemoryStatus, PatchMemory, StoreBatch, StoreMemory, parse
from loci.services import Services
from loci.stores.filters import MemoryFilter

bp = Blueprint("memory", __name__)

BY_TAG_DEFAULT_LIMIT = 20
BY_TAG_MAX_LIMIT = 200
LIST_DEFAULT_LIMIT = 50
LIST_MAX_LIMIT = 200


@bp.post("/memory")
def store() -> Any:
    """Store one memory; 201 with its id as soon as the graph has it (200 for a duplicate)."""
    return idempotent(_store_one)


def _store_one() -> tuple[dict[str, Any], int]:
    started = time.perf_counter()
    svc = services()
    req = parse(StoreMemory, json_object(), **_limits(svc))
    outcome = svc.writer.store(req)
    memory = outcome.memory
    vector_given = memory.embedding_status is StageStatus.COMPLETED
    body = {
        "status": "success",
        "memory_id": memory.id,
        "deduplicated": outcome.deduplicated,
        "stored_at": memory.stored_at,
        "type": memory.type,
        "confidence": memory.confidence,
        "importance": memory.importance,
        "tags": memory.tags,
        "qdrant": "stored" if vector_given else "queued",
        "embedding_status": "provided" if req.embedding is not None else "queued",
        "enrichment": "queued",
        "metadata": memory.metadata,
        "timestamp": memory.timestamp,
        "updated_at": memory.updated_at,
        "last_accessed": memory.last_accessed,
        "summarized": outcome.original_length is not None,
        "query_time_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    if outcome.original_length is not None:  # stored as a summary; the original is in metadata
        body["original_length"] = outcome.original_length
        body["summarized_length"] = len(memory.content)
    return body, 200 if outcome.deduplicated else 201


@bp.post("/memory/batch")
def store_batch() -> Any:
    """Store up to MEMORY_BATCH_LIMIT memories in one graph write; ids come back in input order."""
    return idempotent(_store_batch)


def _store_batch() -> tuple[dict[str, Any], int]:
    started = time.perf_counter()
    svc = services()
    batch = parse(StoreBatch, json_object(), batch_limit=svc.settings.memory_batch_limit, **_limits(svc))
    requests = batch.memories
    outcomes = svc.writer.store_many(requests)
    given = sum(1 for r in requests if r.embedding is not None)
    stored = sum(1 for o in outcomes if not o.deduplicated)
    body = {
        "status": "success",
        "stored": stored,
        "memory_ids": [o.memory.id for o in outcomes],
        "deduplicated": [i for i, o in enumerate(outcomes) if o.deduplicated],
        "summarized": [i for i, o in enumerate(outcomes) if o.original_length is not None],
        "qdrant": f"stored ({given}), queued ({len(requests) - given})" if given else "queued",
        "enrichment": "queued",
        "query_time_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    return body, 201


class _Limits(TypedDict):
    """The validation context of StoreMemory."""

    content_limit: int
    dimension: int


def _limits(svc: Services) -> _Limits:
    return {"content_limit": svc.settings.memory_content_hard_limit, "dimension": svc.vectors.dimension}


@bp.get("/memory/status")
def status_by_query() -> Any:
    """Which of `ids` (repeated or comma-separated) are searchable, pending, failed or unknown."""
    return jsonify(_status(parse(MemoryStatus, query_values(request.args))))


@bp.post("/memory/status")
def status_by_body() -> Any:
    return jsonify(_status(parse(MemoryStatus, json_object())))


def _status(req: MemoryStatus) -> dict[str, Any]:
    return services().writer.pipeline_status(req.ids)


@bp.get("/memory/<memory_id>")
def get(memory_id: str) -> Any:
    memory = services().writer.get(memory_id_param(memory_id))
    return jsonify({"status": "success", "memory": memory.to_api()})


@bp.patch("/memory/<memory_id>")
def update(memory_id: str) -> Any:
    """Change any subset of fields, validated like a store; content changes re-queue the embedding."""
    svc = services()
    memory_id = memory_id_param(memory_id)
    patch = parse(PatchMemory, json_object(), content_limit=svc.settings.memory_content_hard_limit)
    memory = svc.writer.update(memory_id, patch)
    return jsonify({"status": "success", "memory_id": memory.id, "memory": memory.to_api()})


@bp.delete("/memory/<memory_id>")
def delete(memory_id: str) -> Any:
    memory_id = memory_id_param(memory_id)
    services().writer.delete(memory_id)
    return jsonify({"status": "success", "memory_id": memory_id})


def tag_keys_param() -> list[str]:
    """`tags` from the query string (repeated or comma-separated) in comparison form, or 400."""
    keys = tag_keys_from_query(request.args.getlist("tags"))
    if not keys:
        raise InvalidRequest("'tags' query parameter is required", field="tags")
    return keys


@bp.get("/memory/by-tag")
def by_tag() -> Any:
    svc = services()
    keys = tag_keys_param()
    limit = int_param("limit", BY_TAG_DEFAULT_LIMIT, 1, BY_TAG_MAX_LIMIT)
    offset = int_param("offset", 0, 0, 10**9)
    found = svc.graph.memories.by_tag(keys, limit + 1, offset)
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
    deleted = services().writer.delete_by_tag(keys)
    return jsonify({"status": "success", "tags": keys, "deleted_count": deleted})


@bp.get("/memories")
def listing() -> Any:
    """Memories newest first (by timestamp, then id), a page at a time: pass `next_cursor` back as
    `cursor` for the next page. Browsing, not recall: reading them does not count as an access
    (`last_accessed` stays as it is)."""
    query = parse(MemoryListing, query_values(request.args))
    limit = int_param("limit", LIST_DEFAULT_LIMIT, 1, LIST_MAX_LIMIT)
    where = MemoryFilter(types=tuple(query.types), include_archived=query.include_archived)
    found = services().graph.search.newest_page(where, cursor_param(), limit + 1)
    page = found[:limit]
    return jsonify(
        {
            "status": "success",
            "memories": [m.to_api() for m in page],
            "count": len(page),
            "limit": limit,
            "next_cursor": page_cursor(page[-1]) if len(found) > limit else None,
        }
    )
