"""Merge candidates: pairs of entities of one category whose slugs or aliases say they may be one.

Only names are compared (never memory content), and only within a category. Each rule finds
its pairs through an index rather than by comparing every pair, so a store with tens of
thousands of entities is read in one pass:

    same_name    equal once case, spaces and punctuation are dropped ("node-js", "nodejs"); auto-merge
    alias        a slug or alias of one equals a slug or alias of the other; auto-merge
    token_subset every word of one slug is a word of the other ("alice", "alice-smith")
    prefix       a one-word slug starts the other and is most of it ("postgres", "postgresql"); not for
                 people, whose names are not shortened that way ("priya-raman", "priya-ramanathan")
    edit_distance a letter or two apart ("postgressql", "postgresql"), not in digits ("gpt-4", "gpt-5")

The canonical entity of a pair is the more referenced one (then the longer name, then the id).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations

from loci.enrichment.entities import slugify
from loci.stores.graph.entities import EntityRecord

AUTO_MERGE_CONFIDENCE = 0.95
"""Candidates at least this sure are marked `auto_merge` (same name, or an alias in common)."""
SAME_NAME_CONFIDENCE = 0.97
ALIAS_CONFIDENCE = 0.95
MIN_PREFIX_RATIO = 0.6
"""A slug that starts another counts only if it is at least this share of it ("java" is not "javascript")."""
MIN_EDIT_LENGTH = 6
"""Shorter names are not compared by edit distance: "redis" and "regis" are different things."""
BLOCK_LIMIT = 200
"""A word shared by more entities than this ("project", "team") is too common to pair them by."""


@dataclass(frozen=True)
class MergeCandidate:
    entity_a: str
    entity_b: str
    canonical: str
    alias: str
    confidence: float
    reason: str

    @property
    def auto_merge(self) -> bool:
        return self.confidence >= AUTO_MERGE_CONFIDENCE

    def to_api(self) -> dict[str, object]:
        return {
            "entity_a": self.entity_a,
            "entity_b": self.entity_b,
            "canonical": self.canonical,
            "alias": self.alias,
            "confidence": self.confidence,
            "reason": self.reason,
            "auto_merge": self.auto_merge,
        }


def merge_candidates(entities: Iterable[EntityRecord]) -> list[MergeCandidate]:
    """Candidate pairs among these entities (merged ones should be left out), surest first."""
    by_category: dict[str, list[EntityRecord]] = defaultdict(list)
    for entity in entities:
        by_category[entity.category].append(entity)
    best: dict[tuple[str, str], tuple[float, str]] = {}
    records: dict[str, EntityRecord] = {}
    for group in by_category.values():
        records.update((e.id, e) for e in group)
        for a, b, confidence, reason in _pairs(group):
            key = (a.id, b.id) if a.id < b.id else (b.id, a.id)
            if key[0] != key[1] and confidence > best.get(key, (0.0, ""))[0]:
                best[key] = (confidence, reason)
    found = []
    for (a_id, b_id), (confidence, reason) in best.items():
        canonical, alias = _canonical(records[a_id], records[b_id])
        found.append(MergeCandidate(a_id, b_id, canonical.id, alias.id, round(confidence, 3), reason))
    return sorted(found, key=lambda c: (-c.confidence, c.entity_a, c.entity_b))


def _canonical(a: EntityRecord, b: EntityRecord) -> tuple[EntityRecord, EntityRecord]:
    """(canonical, alias): the more referenced, then the longer name, then the smaller id."""
    first, second = sorted((a, b), key=lambda e: (-e.reference_count, -len(e.slug), e.id))
    return first, second


def _forms(entity: EntityRecord) -> set[str]:
    """The entity's slug and its aliases in slug form."""
    return {entity.slug} | {s for s in (slugify(a) for a in entity.aliases) if s}


def _compact(slug: str) -> str:
    return slug.replace("-", "")


def _pairs(group: Sequence[EntityRecord]) -> Iterator[tuple[EntityRecord, EntityRecord, float, str]]:
    yield from _by_form(group)
    yield from _by_tokens(group)
    yield from _by_prefix(group)
    yield from _by_edits(group)


def _blocks(index: dict[str, list[EntityRecord]]) -> Iterator[tuple[EntityRecord, EntityRecord]]:
    for members in index.values():
        unique = list({e.id: e for e in members}.values())
        if 1 < len(unique) <= BLOCK_LIMIT:
            yield from combinations(unique, 2)


def _by_form(group: Sequence[EntityRecord]) -> Iterator[tuple[EntityRecord, EntityRecord, float, str]]:
    """Same name modulo case and punctuation (slugs), or a shared alias."""
    index: dict[str, list[EntityRecord]] = defaultdict(list)
    for entity in group:
        for form in _forms(entity):
            index[_compact(form)].append(entity)
    for a, b in _blocks(index):
        if _compact(a.slug) == _compact(b.slug):
            yield a, b, SAME_NAME_CONFIDENCE, "same_name: equal apart from case and punctuation"
        else:
            yield a, b, ALIAS_CONFIDENCE, "alias: a name of one is an alias of the other"


def _by_tokens(group: Sequence[EntityRecord]) -> Iterator[tuple[EntityRecord, EntityRecord, float, str]]:
    """Every word of one slug is a word of the other."""
    index: dict[str, list[EntityRecord]] = defaultdict(list)
    for entity in group:
        for token in set(entity.slug.split("-")):
            index[token].append(entity)
    for a, b in _blocks(index):
        short, long = sorted((a, b), key=lambda e: len(e.slug))
        short_tokens, long_tokens = set(short.slug.split("-")), set(long.slug.split("-"))
        if short_tokens < long_tokens:
            ratio = len(_compact(short.slug)) / len(_compact(long.slug))
            yield a, b, 0.55 + 0.35 * ratio, f"token_subset: every word of {short.slug!r} is in {long.slug!r}"


def _by_prefix(group: Sequence[EntityRecord]) -> Iterator[tuple[EntityRecord, EntityRecord, float, str]]:
    """A one-word slug starts the other and is at least MIN_PREFIX_RATIO of it (sorted, so neighbours)."""
    ordered = sorted((e for e in group if e.category != "people"), key=lambda e: _compact(e.slug))
    for i, short in enumerate(ordered):
        stem = _compact(short.slug)
        if "-" in short.slug:
            continue
        for long in ordered[i + 1 : i + 1 + BLOCK_LIMIT]:
            full = _compact(long.slug)
            if not full.startswith(stem):
                break
            ratio = len(stem) / len(full)
            if len(stem) >= 4 and stem != full and ratio >= MIN_PREFIX_RATIO and _digits(stem) == _digits(full):
                yield short, long, 0.5 + 0.4 * ratio, f"prefix: {short.slug!r} starts {long.slug!r}"


def _by_edits(group: Sequence[EntityRecord]) -> Iterator[tuple[EntityRecord, EntityRecord, float, str]]:
    """One or two letters apart, found through shared one-deletion variants (symmetric delete)."""
    index: dict[str, list[EntityRecord]] = defaultdict(list)
    for entity in group:
        word = _compact(entity.slug)
        if len(word) >= MIN_EDIT_LENGTH:
            for variant in {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}:
                index[variant].append(entity)
    for a, b in _blocks(index):
        x, y = _compact(a.slug), _compact(b.slug)
        if x == y or _digits(x) != _digits(y):
            continue
        distance = _levenshtein(x, y)
        longest = max(len(x), len(y))
        if distance <= (1 if longest < 8 else 2):
            similarity = 1 - distance / longest
            yield a, b, 0.5 + 0.4 * similarity, f"edit_distance: {a.slug!r} and {b.slug!r} are {distance} apart"


def _digits(word: str) -> str:
    return re.sub(r"\D", "", word)


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(current[j - 1] + 1, previous[j] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
