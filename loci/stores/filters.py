"""`MemoryFilter`: which memories a search may return, shared by the graph and vector stores.

Each store translates the same filter into its own query language (a Cypher WHERE
clause, a Qdrant `Filter`), so vector and keyword candidates obey one set of rules.
`matches()` applies it to a memory read from the graph: recall does that to every
candidate, so results obey the record even when a vector payload lags behind.

The vector filters leave out `archived`: qdrant-edge 0.9 turns a boolean `MatchValue`
into an integer and never matches it, so archived memories are dropped on the graph side.
They leave out `min_importance` too: a payload's importance can be lower than the record's
for a while (below), and a vector filter must never hide a memory the record lets through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from loci.model import Memory


class TagMode(StrEnum):
    ANY = "any"
    ALL = "all"


class TagMatch(StrEnum):
    PREFIX = "prefix"
    """`project` matches `project:loci` (whole segments, via `tag_prefixes`)."""
    EXACT = "exact"
    """`project` matches only the tag `project` (case-insensitive, via `tag_keys`)."""


@dataclass(frozen=True)
class MemoryFilter:
    """Conditions a memory must meet. Tags are given in `tag_key` form (lower case, `:`)."""

    tags: tuple[str, ...] = ()
    tag_mode: TagMode = TagMode.ANY
    tag_match: TagMatch = TagMatch.PREFIX
    exclude_tags: tuple[str, ...] = ()
    start: str | None = None
    """Inclusive lower bound on `timestamp` (stored ISO form)."""
    end: str | None = None
    """Inclusive upper bound on `timestamp`."""
    excluded_types: tuple[str, ...] = field(default_factory=tuple)
    types: tuple[str, ...] = ()
    """Only memories of these types (none: any type). The vector filters apply it, as they do
    `excluded_types`: a type changed by PATCH (or the LLM classifier) reaches the payload with
    the embedding worker's next pass, until which the graph side alone finds the memory by it."""
    min_importance: float | None = None
    """Only memories at least this important. Graph side only: after PATCH /memory raises a
    memory's importance, its vector payload keeps the old value until the embedding worker
    rewrites it, so a filter on the payload would hide a memory that qualifies."""
    include_archived: bool = False

    @property
    def tag_field(self) -> str:
        """The stored list the tag condition reads."""
        return "tag_prefixes" if self.tag_match is TagMatch.PREFIX else "tag_keys"

    def matches(self, memory: Memory, *, check_tags: bool = True) -> bool:
        """The same conditions applied to a memory in hand (for memories reached over edges)."""
        if not self.include_archived and memory.archived:
            return False
        if memory.type in self.excluded_types:
            return False
        if self.types and memory.type not in self.types:
            return False
        if self.min_importance is not None and memory.importance < self.min_importance:
            return False
        if self.start and memory.timestamp < self.start:
            return False
        if self.end and memory.timestamp > self.end:
            return False
        prefixes = set(memory.tag_prefixes)
        if self.exclude_tags and prefixes.intersection(self.exclude_tags):
            return False
        if check_tags and self.tags:
            have = prefixes if self.tag_match is TagMatch.PREFIX else set(memory.tag_keys)
            wanted = set(self.tags)
            return wanted <= have if self.tag_mode is TagMode.ALL else bool(wanted & have)
        return True
