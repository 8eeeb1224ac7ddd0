"""Graph steps of recall: keeping only current memories, and reaching out over edges."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from loci.model import Memory, RelationType
from loci.recall.candidates import Candidate
from loci.recall.scoring import relation_score
from loci.stores.filters import MemoryFilter
from loci.stores.graph import RelationQueries
from loci.timeutil import iso


def is_current(memory: Memory, now: str) -> bool:
    """Not archived, already valid (`t_valid <= now`) and not yet expired (`t_invalid > now`)."""
    if memory.archived:
        return False
    if memory.t_valid and memory.t_valid > now:
        return False
    return not (memory.t_invalid and memory.t_invalid <= now)


@dataclass
class StateFilter:
    """What the current-state step did: the candidates kept, the ids it dropped, the replacements it made."""

    kept: list[Candidate]
    suppressed: list[str] = field(default_factory=list)
    replacements: list[tuple[str, str]] = field(default_factory=list)
    """(superseded id, the current memory put in its place)."""


def current_state(
    relations: RelationQueries,
    candidates: list[Candidate],
    where: MemoryFilter,
    now: datetime,
    keep: frozenset[str] = frozenset(),
) -> StateFilter:
    """Drop memories that are not current; put the newest replacement in place of a superseded one.

    A memory is superseded when a current memory replaces it (directly or down a chain);
    the furthest current one along the chain takes its place. A replacement takes over the
    vector match of the memory it replaces, so it ranks where that one would have. Ids in
    `keep` (the request's priority ids) stay whatever their state.
    """
    stamp = iso(now)
    valid = [c for c in candidates if c.id in keep or is_current(c.memory, stamp)]
    suppressed = [c.id for c in candidates if c.id not in keep and not is_current(c.memory, stamp)]
    chains = relations.successors([c.id for c in valid if c.id not in keep])
    heads = {
        old: head
        for old, chain in chains.items()
        if (head := next((m for m in chain if is_current(m, stamp)), None)) is not None
    }
    present = {c.id for c in valid if c.id not in heads}
    result = StateFilter(kept=[], suppressed=suppressed)
    for candidate in valid:
        head = heads.get(candidate.id)
        if head is None:
            result.kept.append(candidate)
            continue
        result.suppressed.append(candidate.id)
        if head.id in present or not is_current(head, stamp) or not where.matches(head):
            continue
        present.add(head.id)
        result.kept.append(
            Candidate(head, "state_replacement", "graph", cosine=candidate.cosine, state_replaces=candidate.id)
        )
        result.replacements.append((candidate.id, head.id))
    return result


@dataclass(frozen=True)
class ExpansionLimits:
    """What a memory reached by expansion must also meet (`expand_respect_tags`, `expand_min_*`)."""

    respect_tags: bool = False
    min_importance: float = 0.0
    min_strength: float = 0.0


def neighbors(
    relations: RelationQueries,
    seeds: Sequence[Candidate],
    types: Sequence[RelationType],
    per_seed: int,
    total: int,
    where: MemoryFilter,
    limits: ExpansionLimits | None = None,
) -> list[Candidate]:
    """Memories one edge from the seeds, best relation score first, at most `total`.

    Time, type, archive and excluded-tag conditions apply to them; the tag scope does not
    unless `limits.respect_tags` (an edge may lead out of the tags asked for, which is the
    point of expanding). `limits` may also ask for a least importance and edge strength.
    """
    limits = limits or ExpansionLimits()
    seed_scores = {seed.id: seed.score for seed in seeds}
    found: dict[str, Candidate] = {}
    for edge in relations.neighbors(list(seed_scores), types, per_seed):
        memory = edge.memory
        if memory.id in seed_scores or not where.matches(memory, check_tags=limits.respect_tags):
            continue
        if memory.importance < limits.min_importance or edge.strength < limits.min_strength:
            continue
        score = relation_score(edge.strength, seed_scores[edge.seed_id])
        best = found.get(memory.id)
        if best is None or score > best.components.relation:
            candidate = Candidate(memory, "relation", "graph", related_to=edge.seed_id, relation_type=edge.relation)
            candidate.components.relation = score
            found[memory.id] = candidate
    return sorted(found.values(), key=lambda c: -c.components.relation)[:total]


def cosine(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Cosine similarity of two vectors; None if either is empty, zero or of another length."""
    if not a or not b or len(a) != len(b):
        return None
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else None
