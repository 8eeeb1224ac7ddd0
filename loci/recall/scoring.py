"""Recall scoring: one small pure function per signal, each returning 0..1.

The final score is the weighted sum `Σ weight_i · component_i` with the SEARCH_WEIGHT_*
weights (AutoMem's components and defaults). Nothing here touches a store, the settings
or the clock: `now` and the weights are passed in, so every number in a result's
`score_components` can be recomputed by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from loci.config import Settings
from loci.recall.keywords import tokens
from loci.timeutil import age_days

PREFIX_MATCH_MIN = 4
"""A query word of at least this length also matches longer words it begins (`deploy` ~ `deployed`)."""


@dataclass(frozen=True)
class Weights:
    vector: float = 0.35
    keyword: float = 0.35
    tag: float = 0.2
    importance: float = 0.1
    confidence: float = 0.05
    recency: float = 0.1
    exact: float = 0.2
    relation: float = 0.25

    @classmethod
    def from_settings(cls, settings: Settings) -> Weights:
        return cls(
            vector=settings.search_weight_vector,
            keyword=settings.search_weight_keyword,
            tag=settings.search_weight_tag,
            importance=settings.search_weight_importance,
            confidence=settings.search_weight_confidence,
            recency=settings.search_weight_recency,
            exact=settings.search_weight_exact,
            relation=settings.search_weight_relation,
        )


@dataclass
class Components:
    """One candidate's signals, each 0..1."""

    vector: float = 0.0
    keyword: float = 0.0
    tag: float = 0.0
    importance: float = 0.0
    confidence: float = 0.0
    recency: float = 0.0
    exact: float = 0.0
    relation: float = 0.0

    def total(self, weights: Weights) -> float:
        return (
            weights.vector * self.vector
            + weights.keyword * self.keyword
            + weights.tag * self.tag
            + weights.importance * self.importance
            + weights.confidence * self.confidence
            + weights.recency * self.recency
            + weights.exact * self.exact
            + weights.relation * self.relation
        )

    def as_dict(self) -> dict[str, float]:
        return {f.name: round(getattr(self, f.name), 4) for f in fields(self)}


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


def _word_found(word: str, haystack: set[str]) -> bool:
    if word in haystack:
        return True
    return len(word) >= PREFIX_MATCH_MIN and any(token.startswith(word) for token in haystack)


def vector_score(cosine: float | None) -> float:
    """Cosine similarity, negatives as 0."""
    return clamp(cosine) if cosine is not None else 0.0


def keyword_score(words: Sequence[str], content_words: set[str]) -> float:
    """Fraction of the query's words found among the content's words."""
    if not words:
        return 0.0
    return sum(1 for word in words if _word_found(word, content_words)) / len(words)


def tag_score(words: Sequence[str], tags: Iterable[str]) -> float:
    """Fraction of the query's words found among the words of the memory's tags."""
    if not words:
        return 0.0
    found = {token for tag in tags for token in tokens(tag)}
    return sum(1 for word in words if _word_found(word, found)) / len(words)


def exact_score(query: str, content_words: Sequence[str], tag_keys: Iterable[str]) -> float:
    """1 when the whole query appears verbatim (case and punctuation aside) in the content, or is a tag."""
    phrase = " ".join(tokens(query))
    if len(phrase) < 3:
        return 0.0
    if f" {phrase} " in f" {' '.join(content_words)} ":
        return 1.0
    return 1.0 if query.strip().lower() in set(tag_keys) else 0.0


def recency_score(timestamp: str | None, now: datetime, window_days: float) -> float:
    """1 for now (or the future), falling linearly to 0 at `window_days` old."""
    age = age_days(timestamp, now)
    if age is None:
        return 0.0
    return clamp(1.0 - age / window_days)


def relation_score(strength: float, seed_score: float) -> float:
    """For a memory reached over an edge: the edge's strength plus a quarter of the seed's score."""
    return clamp(strength + 0.25 * seed_score)
