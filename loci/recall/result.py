"""RecallResult: what one recall found and did, for the API to answer with."""

from __future__ import annotations

from dataclasses import dataclass, field

from loci.recall.candidates import Candidate
from loci.recall.focus import Focus
from loci.recall.params import RecallParams, SortMode
from loci.stores.filters import MemoryFilter


@dataclass
class RecallResult:
    params: RecallParams
    candidates: list[Candidate]
    words: list[str]
    where: MemoryFilter
    sort: SortMode
    vector_enabled: bool
    vector_matched: int
    degraded: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    """Ids the current-state step dropped (listed with `state_debug`)."""
    replacements: list[tuple[str, str]] = field(default_factory=list)
    """(superseded id, the current memory put in its place)."""
    seeds: int = 0
    relation_limit: int = 0
    expansion_limit: int = 0
    expanded: int = 0
    """Memories reached over edges and scored."""
    included: int = 0
    """Of those, how many made it into the results."""
    dedup_removed: int = 0
    relations: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    focus: Focus = field(default_factory=Focus)
    injected: bool = False
    """A memory fitting the request's focus was put into results that had none."""
    recency_bias: bool = False
    floor_cut: int = 0
    """Results the adaptive floor removed."""
    min_score: float = 0.0
    outside_scope: int = 0
    entity_expanded: int = 0
    """Memories reached by entity expansion and scored."""
    entities_found: list[str] = field(default_factory=list)
    """The entities expansion walked (their ids)."""
    """Results `scope_fallback` added from outside the tag scope."""
