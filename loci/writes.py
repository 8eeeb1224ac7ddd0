"""Writer: the write path (store, update, delete). The API's views call it; so do importers.

Every write goes to the graph first (the record) and queues the embedding afterwards, so
no request waits on a model. A failed request leaves nothing behind: a precomputed vector
is written before the node and removed again if the node cannot be written. A write whose
outcome is unknown (a timeout, a connection dropped) keeps its de-duplication claims and is
settled once the graph answers (loci/unsettled.py), so a retry of it is stored once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from loci.enrichment.classify import classify
from loci.enrichment.summarize import SoftLimit
from loci.errors import LociError, NotFound
from loci.metrics import NamespaceMetrics
from loci.model import Memory, Stage, StageStatus
from loci.pipeline.access import AccessRecorder
from loci.pipeline.intake import Intake
from loci.schemas import PatchMemory, StoreMemory
from loci.stores.graph import MemoryQueries, PipelineQueries
from loci.stores.idempotency import RequestLog, fingerprint
from loci.stores.vectors import VectorStore
from loci.timeutil import iso, utcnow
from loci.unsettled import Settler, outcome_unknown

log = logging.getLogger(__name__)

DEFAULT_IMPORTANCE = 0.5
TYPE_GIVEN_CONFIDENCE = 0.9
"""Confidence when the client names the type but not the confidence (AutoMem's rule)."""


def build_memory(request: StoreMemory, now: str, soft_limit: SoftLimit | None = None) -> Memory:
    """A new Memory from a validated store request: id, defaults, type and timestamps; content over
    the soft limit summarized, the original kept in metadata."""
    content, metadata = (soft_limit or SoftLimit(0, enabled=False)).apply(request.content, request.metadata or {})
    if request.type:
        kind, confidence = request.type, TYPE_GIVEN_CONFIDENCE
    else:
        kind, confidence = classify(request.content)
    timestamp = request.timestamp or now
    updated_at = request.updated_at or timestamp
    return Memory(
        id=str(uuid.uuid4()),
        content=content,
        type=kind,
        confidence=request.confidence if request.confidence is not None else confidence,
        importance=request.importance if request.importance is not None else DEFAULT_IMPORTANCE,
        timestamp=timestamp,
        updated_at=updated_at,
        last_accessed=request.last_accessed or updated_at,
        t_valid=request.t_valid or timestamp,
        t_invalid=request.t_invalid,
        tags=request.tags or [],
        metadata=metadata,
        type_source="client" if request.type else "regex",
        stored_at=now,
    )


@dataclass(frozen=True)
class Stored:
    memory: Memory
    """The memory written, or for a duplicate the original one."""
    deduplicated: bool = False
    original_length: int | None = None
    """The request's content length when it was over the soft limit (the memory holds a summary)."""


class Writer:
    """Stores, updates and deletes memories over the parts of the process a write touches."""

    def __init__(
        self,
        memories: MemoryQueries,
        pipeline: PipelineQueries,
        vectors: VectorStore,
        keys: RequestLog,
        settler: Settler,
        intake: Intake,
        access: AccessRecorder,
        metrics: NamespaceMetrics,
        soft_limit: SoftLimit,
    ) -> None:
        """`keys` holds the de-duplication claims; `settler` takes writes whose outcome is unknown;
        `intake` queues and announces what was written; `access` records reads; `soft_limit` is
        MEMORY_CONTENT_SOFT_LIMIT (loci/enrichment/summarize.py)."""
        self.memories, self.pipeline, self.vectors, self.keys = memories, pipeline, vectors, keys
        self.settler, self.intake, self.access, self.metrics = settler, intake, access, metrics
        self.soft_limit = soft_limit

    def store(self, request: StoreMemory) -> Stored:
        """Store one memory (see `store_many`)."""
        return self.store_many([request])[0]

    def store_many(self, requests: Sequence[StoreMemory]) -> list[Stored]:
        """Store memories in one graph write, in order; queue their embedding and enrichment.

        A memory with the same content, tags, type and timestamp as one stored within the
        idempotency window is not stored again: its outcome is the original, marked deduplicated. All or
        nothing: if the write fails, nothing of the batch remains.
        """
        start = utcnow()  # a microsecond apart, so stored_at keeps the order of the request
        memories = [
            build_memory(r, iso(start + timedelta(microseconds=n)), self.soft_limit) for n, r in enumerate(requests)
        ]
        prints = [fingerprint(r.content, r.tags or [], r.type, r.timestamp) for r in requests]
        originals = self._originals(prints, memories)
        new = [m for m in memories if m.id not in originals]
        new_prints = [p for p, m in zip(prints, memories, strict=True) if m.id not in originals]
        given = {m.id: r.embedding for m, r in zip(memories, requests, strict=True) if r.embedding is not None}
        try:
            self.memories.create(new)  # pending until their vectors exist: a crash loses nothing
            new = self._store_vectors(new, given)
        except LociError as exc:
            if outcome_unknown(exc):  # it may have landed: keep the claims, settle when the graph answers
                self.settler.add(new, new_prints, given)
            else:
                self.keys.release([(p, m.id) for p, m in zip(new_prints, new, strict=True)])
            raise
        self.metrics.stored.inc(len(new))
        self.metrics.deduplicated.inc(len(memories) - len(new))
        self.intake.announce(new)
        log.info(
            "memories stored",
            extra={
                "event": "memory.stored",
                "memory_ids": [m.id for m in new],
                "count": len(new),
                "deduplicated": len(memories) - len(new),
            },
        )
        lengths = [len(r.content) if self.soft_limit.exceeded_by(r.content) else None for r in requests]
        return [
            Stored(originals[m.id], True, length) if m.id in originals else Stored(m, False, length)
            for m, length in zip(_written(new, memories), lengths, strict=True)
        ]

    def _originals(self, prints: list[str], memories: list[Memory]) -> dict[str, Memory]:
        """For memories repeating a recent store (or an earlier item of this batch), the original."""
        claimed = self.keys.claim(prints, [m.id for m in memories])
        batch = {m.id: m for m in memories}
        earlier_ids = [c for c in claimed if c is not None and c not in batch]
        found = self.memories.get_many(earlier_ids) if earlier_ids else {}
        originals: dict[str, Memory] = {}
        for memory, digest, previous in zip(memories, prints, claimed, strict=True):
            if previous is None:
                continue
            original = batch.get(previous) or found.get(previous)
            settled = previous not in batch and self.settler.settle_original(previous, original)
            if original is None:  # deleted since, or its write never landed: this one takes its place
                self.keys.take_over(digest, memory.id)
                continue
            if previous not in batch and not settled:
                self.intake.adopt_unfinished(original)
            originals[memory.id] = original
        return originals

    def _store_vectors(self, memories: list[Memory], given: dict[str, list[float]]) -> list[Memory]:
        """Write the clients' vectors and mark those memories embedded; on failure remove the memories again."""
        try:
            return self.intake.write_client_vectors(memories, given)
        except LociError:
            self.memories.delete_many([m.id for m in memories])
            self._forget_vectors([m.id for m in memories if m.id in given])
            raise

    def pipeline_status(self, ids: list[str]) -> dict[str, Any]:
        """Partition ids: completed (embedded and enriched: searchable with everything), pending,
        failed (with the stage and the reason), unknown."""
        states = self.pipeline.stage_states(ids)
        completed, pending, failed, unknown = [], [], [], []
        for memory_id in ids:
            state = states.get(memory_id)
            if state is None:
                unknown.append(memory_id)
                continue
            broken = [(stage, error) for stage, (status, error) in state.items() if status == StageStatus.FAILED.value]
            if broken:
                failed.append({"id": memory_id, "stage": broken[0][0].value, "reason": broken[0][1] or "unknown error"})
            elif all(status == StageStatus.COMPLETED.value for status, _ in state.values()):
                completed.append(memory_id)
            else:
                pending.append(memory_id)
        return {
            "status": "success",
            "completed_ids": completed,
            "pending_ids": pending,
            "failed_ids": [f["id"] for f in failed],
            "failed": failed,
            "unknown_ids": unknown,
            "counts": {
                "completed": len(completed),
                "pending": len(pending),
                "failed": len(failed),
                "unknown": len(unknown),
            },
        }

    def get(self, memory_id: str) -> Memory:
        memory = self.memories.get(memory_id)
        if memory is None:
            raise NotFound("Memory not found")
        self.access.record([memory_id])
        return memory

    def update(self, memory_id: str, patch: PatchMemory) -> Memory:
        """Apply a validated PATCH; re-queue the embedding when content changed, else refresh the payload."""
        current = self.memories.get(memory_id)
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
        if not self.memories.update(updated, list(changes)):
            raise NotFound("Memory not found")
        self.intake.changed(updated, content_changed=content_changed)
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

    def delete(self, memory_id: str) -> None:
        if not self.memories.delete(memory_id):
            raise NotFound("Memory not found")
        self._forget_vectors([memory_id])
        log.info("memory deleted", extra={"event": "memory.deleted", "memory_id": memory_id})

    def delete_by_tag(self, keys: list[str]) -> int:
        """Delete every memory having one of these tags, a page at a time; returns the count."""
        deleted = 0
        while page := self.memories.delete_page_by_tag(keys):
            self._forget_vectors(page)
            deleted += len(page)
            log.info(
                "memories deleted by tag", extra={"event": "memory.deleted_by_tag", "count": len(page), "tags": keys}
            )
        return deleted

    def _forget_vectors(self, ids: list[str]) -> None:
        """Remove vectors of memories that are gone. If that fails the orphan stays in the vector
        store, where it is harmless: recall only returns what the graph still holds."""
        try:
            self.vectors.delete(ids)
        except LociError as exc:
            log.warning(
                "vector delete failed; orphan left for sync",
                extra={"event": "vectors.delete_failed", "memory_ids": ids[:20], "error": exc.message},
            )


def _written(new: list[Memory], memories: list[Memory]) -> list[Memory]:
    by_id = {m.id: m for m in new}
    return [by_id.get(m.id, m) for m in memories]


_CLEARED_BY_NULL: dict[str, list[str] | dict[str, Any] | None] = {"tags": [], "metadata": {}, "t_invalid": None}


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
