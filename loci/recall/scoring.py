"""Recall scoring: one small pure function per signal, each returning 0..1.

The final score is the weighted sum `Σ weight_i · component_i` with the SEARCH_WEIGHT_*
weights (AutoMem's components and defaults, plus `context`). Nothing here touches a store,
the settings or the clock: `now`, the weights and the word statistics are passed in, so
every number in a result's `score_components` can be recomputed by hand.

Two signals differ from AutoMem's on purpose (both measured on LoCoMo, see the README):
- `keyword` weighs each query word by its rarity (BM25's inverse document frequency), so
  a memory holding the one rare word of a question outranks ten holding "Caroline";
- `context` is how well a memory's neighbour in time (the turn just before or after it)
  matches the query: an answer often sits next to the turn that names the subject.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
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
    context: float = 0.3
    temporal: float = 0.1
    priority: float = 1.0
    entity: float = 1.0
    """The option bonuses carry their size in the component (AutoMem's +0.45, +0.15, ...), so their weight is 1."""

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
            context=settings.search_weight_context,
            temporal=settings.search_weight_temporal,
        )


@dataclass
class Components:
    """One candidate's signals, each 0..1, and the bonuses of recall's options."""

    vector: float = 0.0
    keyword: float = 0.0
    tag: float = 0.0
    importance: float = 0.0
    confidence: float = 0.0
    recency: float = 0.0
    exact: float = 0.0
    relation: float = 0.0
    context: float = 0.0
    temporal: float = 0.0
    """With `recency_bias`: the memory's time relative to the other candidates (newest 1, oldest 0)."""
    priority: float = 0.0
    """Bonus from the request's context (priority ids, tags, types, language): see loci/recall/focus.py."""
    entity: float = 0.0
    """Bonus for a memory reached by entity expansion."""

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
            + weights.context * self.context
            + weights.temporal * self.temporal
            + weights.priority * self.priority
            + weights.entity * self.entity
        )

    def query_match(self, weights: Weights) -> float:
        """How well the memory itself matches the query: its vector and keyword parts, 0..1."""
        total = weights.vector + weights.keyword
        return (weights.vector * self.vector + weights.keyword * self.keyword) / total if total else 0.0

    def as_dict(self) -> dict[str, float]:
        return {f.name: round(getattr(self, f.name), 4) for f in fields(self)}


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


class WordSet:
    """A text's words, for looking up query words whole or as a prefix (`deploy` ~ `deployed`)."""

    __slots__ = ("_joined", "_words")

    def __init__(self, words: Iterable[str]) -> None:
        self._words = set(words)
        self._joined = " " + " ".join(self._words)  # one substring search finds a word starting with a prefix

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        return word in self._words or (len(word) >= PREFIX_MATCH_MIN and f" {word}" in self._joined)


def vector_score(cosine: float | None) -> float:
    """Cosine similarity, negatives as 0."""
    return clamp(cosine) if cosine is not None else 0.0


def idf(total: int, matches: int) -> float:
    """BM25's inverse document frequency of a word found in `matches` of `total` memories.

    A word no memory holds tells memories apart no better than a stop word: it weighs 0.
    """
    if matches <= 0:
        return 0.0
    total = max(total, matches)  # counted a moment apart: a memory may have been stored in between
    return math.log(1.0 + (total - matches + 0.5) / (matches + 0.5))


def keyword_score(words: Sequence[str], content_words: WordSet, weights: Mapping[str, float] | None = None) -> float:
    """Share of the query's words found among the content's words, each word weighted by `weights` (its idf).

    Without weights (no statistics, or no word known to the store) every word counts the same, as in AutoMem.
    """
    if not words:
        return 0.0
    weight = {word: (weights or {}).get(word, 1.0) for word in words}
    total = sum(weight.values())
    if total <= 0:
        weight, total = dict.fromkeys(words, 1.0), float(len(words))
    return sum(weight[word] for word in words if word in content_words) / total


def tag_score(words: Sequence[str], tags: Iterable[str]) -> float:
    """Fraction of the query's words found among the words of the memory's tags."""
    if not words:
        return 0.0
    found = WordSet(token for tag in tags for token in tokens(tag))
    return sum(1 for word in words if word in found) / len(words)


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
