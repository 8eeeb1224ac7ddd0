"""Writing memories: store, update, delete. The API's views call these; so will importers.

Every write goes to the graph first (the record) and queues the embedding afterwards, so
no request waits on a model. A failed request leaves nothing behind: a precomputed vector
is written before the node and removed again if the node cannot be written.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from loci.api.schemas import PatchMemory, StoreMemory
from loci.classify import classify
from loci.errors import LociError, NotFound
from loci.memory import Memory, Stage, StageStatus, content_hash
from loci.services import Services
from loci.stores.vectors import VectorPoint
from loci.timeutil import iso, utcnow

log = logging.getLogger(__name__)

DEFAULT_IMPORTANCE = 0.5
TYPE_GIVEN_CONFIDENCE = 0.9
"""Confidence when the client names the type but not the confidence (AutoMem's rule)."""


def build_memory(request: StoreMemory, now: str) -> Memory:
    """A new Memory from a validated store request: id, defaults, type and timestamps."""
    if request.type:
        kind, confidence = request.type, TYPE_GIVEN_CONFIDENCE
    else:
        kind, confidence = classify(request.content)
    timestamp = request.timestamp or now
    updated_at = request.updated_at or timestamp
    return Memory(
        id=str(uuid.uuid4()),
        content=request.content,
        type=kind,
        confidence=request.confidence if request.confidence is not None else confidence,
        importance=request.importance if request.importance is not None else DEFAULT_IMPORTANCE,
        timestamp=timestamp,
        updated_at=updated_at,
        last_accessed=request.last_accessed or updated_at,
        t_valid=request.t_valid or timestamp,
        t_invalid=request.t_invalid,
        tags=request.tags or [],
        metadata=request.metadata or {},
        type_source="client" if request.type else "regex",
        stored_at=now,
    )


def store(services: Services, request: StoreMemory) -> Memory:
    """Store one memory; its embedding is queued unless the client sent one."""
    memory = build_memory(request, iso(utcnow()))
    services.graph.create_memories([memory])  # pending until its vector exists: a crash loses nothing
    if request.embedding is not None:
        memory = _store_vector(services, memory, request.embedding)
    else:
        services.embedding_queue.put(memory.id)
    services.enrichment_queue.put(memory.id)
    services.events.publish("memory.stored", memory_id=memory.id, type=memory.type, tags=memory.tags)
    log.info(
        "memory stored",
        extra={
            "event": "memory.stored",
            "memory_id": memory.id,
            "type": memory.type,
            "vector_given": request.embedding is not None,
        },
    )
    return memory


def _store_vector(services: Services, memory: Memory, vector: list[float]) -> Memory:
    """Write the client's vector and mark the memory embedded; on failure remove the memory again."""
    try:
        services.vectors.upsert([VectorPoint(memory.id, vector, memory.payload())])
        services.graph.mark_embedded([(memory.id, content_hash(memory.content))])
    except LociError:
        services.graph.delete_memory(memory.id)
        _forget_vectors(services, [memory.id])
        raise
    return memory.with_changes(embedding_status=StageStatus.COMPLETED, embedded_hash=content_hash(memory.content))


def get(services: Services, memory_id: str) -> Memory:
    memory = services.graph.get_memory(memory_id)
    if memory is None:
        raise NotFound("Memory not found")
    services.access.record([memory_id])
    return memory


def update(services: Services, memory_id: str, patch: PatchMemory) -> Memory:
    """Apply a validated PATCH; re-queue the embedding when content changed, else refresh the payload."""
    current = services.graph.get_memory(memory_id)
    if current is None:
        raise NotFound("Memory not found")
    changes = _patch_changes(patch)
    content_changed = "content" in changes and changes["content"] != current.content
    if "type" in changes:
        changes["type_source"] = "client"
        changes.setdefault("confidence", TYPE_GIVEN_CONFIDENCE)
    if content_changed:
        for stage in Stage:
            changes[f"{stage}_status"] = StageStatus.PENDING
            changes[f"{stage}_attempts"] = 0
            changes[f"{stage}_error"] = None
    if "updated_at" not in changes:
        changes["updated_at"] = iso(utcnow())
    updated = current.with_changes(**changes)
    if not services.graph.update_memory(updated, list(changes)):
        raise NotFound("Memory not found")
    # the worker re-embeds changed content, or rewrites the payload of an unchanged vector
    if updated.embedding_status is not StageStatus.FAILED:
        services.embedding_queue.put(memory_id)
    if content_changed:
        services.enrichment_queue.put(memory_id)
    log.info(
        "memory updated",
        extra={
            "event": "memory.updated",
            "memory_id": memory_id,
            "fields": sorted(changes),
            "content_changed": content_changed,
        },
    )
    return updated


def delete(services: Services, memory_id: str) -> None:
    if not services.graph.delete_memory(memory_id):
        raise NotFound("Memory not found")
    _forget_vectors(services, [memory_id])
    log.info("memory deleted", extra={"event": "memory.deleted", "memory_id": memory_id})


def delete_by_tag(services: Services, keys: list[str]) -> int:
    """Delete every memory having one of these tags, a page at a time; returns the count."""
    deleted = 0
    while page := services.graph.delete_page_by_tag(keys):
        _forget_vectors(services, page)
        deleted += len(page)
        log.info("memories deleted by tag", extra={"event": "memory.deleted_by_tag", "count": len(page), "tags": keys})
    return deleted


def _forget_vectors(services: Services, ids: list[str]) -> None:
    """Remove vectors of memories that are gone. If that fails the orphan stays in the vector
    store, where it is harmless: recall only returns what the graph still holds."""
    try:
        services.vectors.delete(ids)
    except LociError as exc:
        log.warning(
            "vector delete failed; orphan left for sync",
            extra={"event": "vectors.delete_failed", "memory_ids": ids[:20], "error": exc.message},
        )


_CLEARED_BY_NULL = {"tags": [], "metadata": {}, "t_invalid": None}


def _patch_changes(patch: PatchMemory) -> dict[str, Any]:
    """Fields the PATCH sets: explicit nulls clear tags/metadata/t_invalid, other nulls are ignored."""
    changes: dict[str, Any] = {}
    for name in patch.model_fields_set:
        value = getattr(patch, name)
        if value is None:
            if name in _CLEARED_BY_NULL:
                changes[name] = _CLEARED_BY_NULL[name]
            continue
        changes[name] = value
    return changes
