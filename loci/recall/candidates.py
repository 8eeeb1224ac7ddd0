"""Candidate: one memory under consideration for a recall answer, with how it was found."""

from __future__ import annotations

from dataclasses import dataclass, field

from loci.model import Memory
from loci.recall.scoring import Components


@dataclass
class Candidate:
    memory: Memory
    match_type: str
    """vector | keyword | trending | relation | state_replacement | priority_id | context | entity_expansion"""
    source: str
    """qdrant (found by vector) | graph"""
    cosine: float | None = None
    components: Components = field(default_factory=Components)
    score: float = 0.0
    related_to: str | None = None
    relation_type: str | None = None
    state_replaces: str | None = None
    outside_tag_scope: bool = False
    """Added by `scope_fallback` from outside the tags asked for."""
    expanded_from_entity: str | None = None

    @property
    def id(self) -> str:
        return self.memory.id

    @property
    def match_score(self) -> float:
        """The score of the channel that found it."""
        if self.match_type == "vector":
            return self.components.vector
        if self.match_type == "relation":
            return self.components.relation
        return self.components.keyword
