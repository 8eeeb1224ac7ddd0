"""Graph steps of recall: keeping only current memories, and reaching out over edges."""

from __future__ import annotations

import math
from collections.abc import Sequence
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


def current_state(
    relations: RelationQueries, candidates: list[Candidate], where: MemoryFilter, now: datetime
) -> tuple[list[Candidate], int, int]:
    """Drop memories that are not current; put the newest replacement in place of a superseded one.

    A memory is superseded when a current memory replaces it (directly or down a chain);
    the furthest current one along the chain takes its place. Returns (kept, suppressed
    count, replacement count). A replacement takes over the vector match of the memory it
    replaces, so it ranks where that one would have.
    """
    stamp = iso(now)
    valid = [c for c in candidates if is_current(c.memory, stamp)]
    suppressed = len(candidates) - len(valid)
    chains = relations.successors([c.id for c in valid])
    heads = {
        old: head
        for old, chain in chains.items()
        if (head := next((m for m in chain if is_current(m, stamp)), None)) is not None
    }
    present = {c.id for c in valid if c.id not in heads}
    kept: list[Candidate] = []
    replaced = 0
    for candidate in valid:
        head = heads.get(candidate.id)
        if head is None:
            kept.append(candidate)
            continue
        suppressed += 1
        if head.id in present or not is_current(head, stamp) or not where.matches(head):
            continue
        present.add(head.id)
        kept.append(Candidate(head, "state_replacement", "graph", cosine=candidate.cosine, state_replaces=candidate.id))
        replaced += 1
    return kept, suppressed, replaced


def neighbors(
    relations: RelationQueries,
    seeds: Sequence[Candidate],
    types: Sequence[RelationType],
    per_seed: int,
    total: int,
    where: MemoryFilter,
) -> list[Candidate]:
    """Memories one edge from the seeds, best relation score first, at most `total`.

    Time, type, archive and excluded-tag conditions apply to them; the tag scope does not
    (an edge may lead out of the tags asked for, which is the point of expanding).
    """
    seed_scores = {seed.id: seed.score for seed in seeds}
    found: dict[str, Candidate] = {}
    for edge in relations.neighbors(list(seed_scores), types, per_seed):
        memory = edge.memory
        if memory.id in seed_scores or not where.matches(memory, check_tags=False):
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
