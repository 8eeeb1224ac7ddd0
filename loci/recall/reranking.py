"""Re-ranking steps recall's options add after scoring: relative recency and the adaptive floor.

- **Recency bias** (`recency_bias=on`, or `auto` when the query asks for what is latest):
  each candidate's `temporal` component is its timestamp placed between the oldest (0) and
  the newest (1) candidate of this recall, weighted by SEARCH_WEIGHT_TEMPORAL. It orders
  memories against each other, where `recency` measures age against the clock.
- **Adaptive floor** (`adaptive_floor`): when the scores fall off a cliff, the results stop
  there: the largest gap after one of the first half of the results is cut if it exceeds
  a quarter of the top score and at least half of the results stay (AutoMem's rule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from loci.model import epoch
from loci.recall.candidates import Candidate
from loci.recall.keywords import tokens
from loci.recall.scoring import Weights

TEMPORAL_WORDS = frozenset(
    """latest last current currently now today newest recent recently changed change changes updated update
    updates new lately nowadays still anymore""".split()  # noqa: SIM905 - a word list reads better as text
)
"""Words that ask for the newest state of things (`auto` turns the recency bias on for them)."""

FLOOR_MIN_RESULTS = 4
FLOOR_GAP_SHARE = 0.25


def asks_for_latest(query: str | None) -> bool:
    return bool(query) and not TEMPORAL_WORDS.isdisjoint(tokens(query or ""))


def apply_recency_bias(candidates: Sequence[Candidate], weights: Weights) -> None:
    """Set each candidate's `temporal` component (0 oldest .. 1 newest of these) and its score."""
    stamps = {c.id: epoch(c.memory.timestamp) for c in candidates}
    known = [stamp for stamp in stamps.values() if stamp is not None]
    if not known:
        return
    low, high = min(known), max(known)
    for candidate in candidates:
        stamp = stamps[candidate.id]
        candidate.components.temporal = 0.0 if stamp is None else (stamp - low) / (high - low) if high > low else 1.0
        candidate.score = candidate.components.total(weights)


def adaptive_floor(ranked: Sequence[Candidate], keep: frozenset[str] = frozenset()) -> tuple[list[Candidate], int]:
    """Cut score-sorted results at a large gap; returns (kept, cut). Ids in `keep` are never cut."""
    n = len(ranked)
    if n < FLOOR_MIN_RESULTS:
        return list(ranked), 0
    window = max(3, n // 2)  # the gaps after each of the first `window` results
    scores = [c.score for c in ranked]
    gap, cut_at = max((scores[i] - scores[i + 1], i + 1) for i in range(min(window, n - 1)))
    if gap <= FLOOR_GAP_SHARE * ranked[0].score or cut_at < math.ceil(n / 2):
        return list(ranked), 0
    kept = list(ranked[:cut_at]) + [c for c in ranked[cut_at:] if c.id in keep]
    return kept, n - len(kept)
