"""Recall: gather candidates, keep the current ones, score, expand over edges, rank.

1. Candidates: nearest vectors (over-fetched), memories holding the query's rarer words
   (full-text index, ranked by the words' idf), or, with no query at all, the most
   important / most recent memories; all under one MemoryFilter.
2. The graph is the record: every candidate is read from it; vectors without a memory drop out.
3. Current state (default): archived, expired, not-yet-valid and superseded memories are
   dropped, and the newest replacement of a superseded one takes its place.
4. Scoring (`loci.recall.scoring`): each candidate on its own (query words weighted by
   how rare they are in the store), then the context signal from its neighbours in time
   (PRECEDED_BY) that are candidates too; then sorting and the `limit`.
5. With `expand_relations`, memories one edge away from the results are scored too and
   compete for the same `limit` (so `count` never exceeds `limit`).
6. The options that follow (AutoMem's; docs/recall.md): `priority_ids` are read by id and
   kept first; a request's focus (loci/recall/focus.py) adds bonuses and, when no result
   fits it, brings one that does; `recency_bias` and `adaptive_floor` re-rank and cut
   (loci/recall/reranking.py); `scope_fallback` fills results the tags left short.

Several queries at once (`queries`, `auto_decompose`) are merged in loci/recall/run.py.

When the vector store or the embedding provider fails, recall still answers from the
graph and says so (`degraded: true`).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime

from loci.config import RecencyBias
from loci.errors import EmbeddingError, LociError, StoreUnavailable
from loci.model import AUTHORABLE_RELATIONS, Memory, epoch
from loci.recall import expansion
from loci.recall.candidates import Candidate
from loci.recall.focus import Focus
from loci.recall.keywords import keywords, tokens
from loci.recall.params import RecallParams, SortMode
from loci.recall.reranking import adaptive_floor, apply_recency_bias, asks_for_latest
from loci.recall.result import RecallResult
from loci.recall.scoring import (
    Weights,
    WordSet,
    exact_score,
    idf,
    keyword_score,
    recency_score,
    tag_score,
    vector_score,
)
from loci.recall.sources import RecallSources
from loci.recall.timewindow import parse_time_query
from loci.stores.filters import MemoryFilter, TagMatch, TagMode
from loci.timeutil import iso

log = logging.getLogger(__name__)


CANDIDATE_FIELDS = (
    "content", "type", "importance", "confidence", "timestamp", "updated_at", "stored_at",
    "t_valid", "t_invalid", "archived", "tags", "relevance_score",
)  # fmt: skip
"""What ranking, filtering and current-state checks read; results are then read in full."""

MAX_ENTITIES = 5
PER_ENTITY = 5
ENTITY_BONUS = 0.15
"""Entity expansion (AutoMem's): at most 5 entities, 5 memories each, +0.15 on their score."""

MAX_WORD_MATCHES = 500
"""A query word held by more memories than this (under the filter) does not bring candidates."""


@dataclass(frozen=True)
class KeywordSide:
    """What the full-text side of a recall found: match scores, word weights (idf), the matches read."""

    hits: dict[str, float]
    word_weights: dict[str, float]
    memories: dict[str, Memory]


class Recall:
    """One recall request's work."""

    def __init__(self, sources: RecallSources, params: RecallParams, now: datetime) -> None:
        self.sources, self.params, self.now = sources, params, now
        self.weights = Weights.from_settings(sources.settings)
        self.words = keywords(params.query or "")
        self.warnings: list[str] = []
        self.degraded: list[str] = []
        self.where = self._filter()
        self.vector: list[float] | None = None
        self.word_weights: dict[str, float] = {}
        self.relation_limit = params.relation_limit or sources.settings.recall_relation_limit
        self.expansion_limit = params.expansion_limit or sources.settings.recall_expansion_limit
        self.focus = Focus.of(
            priority_ids=params.priority_ids,
            context_tags=params.context_tags,
            context_types=params.context_types,
            language=params.language,
            active_path=params.active_path,
            context=params.context,
        )
        # metadata is read for ranking only when the focus looks into it
        self.fields = CANDIDATE_FIELDS + (("metadata",) if self.focus.keywords else ())
        bias = params.recency_bias or sources.settings.recall_recency_bias
        self.recency_bias = bias is RecencyBias.ON or (bias is RecencyBias.AUTO and asks_for_latest(params.query))
        floor = params.adaptive_floor
        self.adaptive_floor = sources.settings.recall_adaptive_floor if floor is None else floor
        if params.ignored:
            self.warnings.append(f"unknown parameters ignored: {', '.join(params.ignored)}")

    def _filter(self) -> MemoryFilter:
        params, start, end = self.params, self.params.start, self.params.end
        if params.time_query and not (start or end):
            window = parse_time_query(params.time_query, self.now)
            if window:
                start, end = iso(window[0]), iso(window[1])
            else:
                self.warnings.append(f"time_query {params.time_query!r} was not understood and was ignored")
        return MemoryFilter(
            tags=tuple(params.tags),
            tag_mode=params.tag_mode,
            tag_match=params.tag_match,
            exclude_tags=tuple(params.exclude_tags),
            start=start,
            end=end,
            excluded_types=self.sources.settings.recall_excluded_types,
            types=tuple(params.types),
            min_importance=params.min_importance,
        )

    @property
    def sort(self) -> SortMode:
        searching = bool(self.params.query or self.params.embedding)
        if "sort" not in self.params.model_fields_set and not searching and (self.where.start or self.where.end):
            return SortMode.TIME_DESC
        return self.params.sort

    def fetch_size(self) -> int:
        settings, limit = self.sources.settings, self.params.limit
        size = max(limit, min(limit * settings.recall_vector_overfetch, settings.recall_vector_fetch_cap))
        if self.where.tags or self.where.min_importance:  # importance is checked on the graph, after the search
            size = max(limit, min(max(size, settings.recall_max_limit), settings.recall_vector_fetch_cap))
        return size

    # --- the steps
    def run(self) -> RecallResult:
        # the full-text side (matches, word statistics, reading the matches) runs while the model embeds the query
        keyword = self.sources.background.submit(self._keyword_candidates) if self.words else None
        self.vector = vector = self._query_vector()
        found = self._gather(vector, keyword)
        found += self._pinned(found)
        state = (
            expansion.current_state(self.sources.relations, found, self.where, self.now, keep=self.focus.ids)
            if self.params.current_state
            else expansion.StateFilter(kept=found)
        )
        kept = state.kept
        neighbours = self._predecessors(kept)  # read while the candidates are scored
        for candidate in kept:
            self._score(candidate)
        self._add_context(kept, neighbours)
        ranked, dedup_removed = self.select(kept)
        seeds, expanded = len(ranked), 0
        if self.params.expand_relations and ranked:
            extra = self._expand(ranked)
            expanded = len(extra)
            ranked, more_removed = self.select(ranked + extra)
            dedup_removed += more_removed
        entity_extra, entities = self._expand_entities(ranked) if self.params.expand_entities and ranked else ([], [])
        if entity_extra:
            ranked, more_removed = self.select(ranked + entity_extra)
            dedup_removed += more_removed
        ranked, floor_cut = self.floor(ranked)
        injected = self._inject(ranked)
        outside = self._scope_fallback(ranked)
        relations = self.sources.background.submit(self._relations, ranked)  # read alongside the results
        self._complete(ranked)
        self.sources.access.record(c.id for c in ranked)
        return RecallResult(
            params=self.params,
            candidates=ranked,
            words=self.words,
            where=self.where,
            sort=self.sort,
            vector_enabled=vector is not None,
            vector_matched=sum(1 for c in ranked if c.source == "qdrant"),
            degraded=self.degraded,
            warnings=self.warnings,
            suppressed=state.suppressed,
            replacements=state.replacements,
            seeds=seeds,
            relation_limit=self.relation_limit,
            expansion_limit=self.expansion_limit,
            expanded=expanded,
            included=sum(1 for c in ranked if c.match_type == "relation"),
            dedup_removed=dedup_removed,
            relations=relations.result(),
            focus=self.focus,
            injected=injected,
            recency_bias=self.recency_bias,
            floor_cut=floor_cut,
            min_score=self.min_score,
            outside_scope=outside,
            entity_expanded=len(entity_extra),
            entities_found=entities,
        )

    def _complete(self, ranked: list[Candidate]) -> None:
        """Read the winners in full (candidates were ranked on the fields scoring needs)."""
        full = self.sources.memories.get_many([c.id for c in ranked])
        for candidate in ranked:
            candidate.memory = full.get(candidate.id, candidate.memory)

    def _query_vector(self) -> list[float] | None:
        if self.params.embedding is not None:
            return self.params.embedding
        if not self.params.query:
            return None
        try:
            return self.sources.provider.embed([self.params.query])[0]
        except EmbeddingError as exc:
            self.degraded.append(f"embedding provider: {exc.message}")
            log.warning("query embedding failed; recall continues without vectors", extra={"event": "recall.degraded"})
            return None

    def _keyword_candidates(self) -> KeywordSide:
        """Memories holding the query's words, best first by the summed weight (idf) of the words they hold.

        Each word is weighed by its rarity in the whole store; a word found in more than
        MAX_WORD_MATCHES memories under the filter is too common to find candidates by (it
        still counts in their keyword score). Equal sums keep the full-text index's order.
        """
        total, matches = self.sources.search.word_matches(self.words, self.where, MAX_WORD_MATCHES)
        weights = {word: idf(total, count) for word, (count, _) in matches.items()}
        found: dict[str, float] = {}
        for word, (_, ids) in matches.items():  # a word over MAX_WORD_MATCHES comes without ids
            for memory_id in ids:
                found[memory_id] = found.get(memory_id, 0.0) + weights[word]
        hits = dict(sorted(found.items(), key=lambda item: -item[1])[: self.fetch_size()])
        return KeywordSide(hits, weights, self.sources.memories.get_many(list(hits), fields=self.fields))

    def _gather(self, vector: list[float] | None, keyword: Future[KeywordSide] | None) -> list[Candidate]:
        """Vector and full-text hits, read from the graph; or a plain listing with no query."""
        cosines: dict[str, float] = {}
        searched = False
        if vector is not None:
            try:
                cosines = {
                    hit.id: hit.score for hit in self.sources.vectors.search(vector, self.fetch_size(), self.where)
                }
                searched = True
            except LociError as exc:
                self.degraded.append(f"vector store: {exc.message}")
                log.warning("vector search failed; recall answers from the graph", extra={"event": "recall.degraded"})
        if not searched and not self.words:  # nothing to search with: list by importance (or time)
            order = {SortMode.SCORE: "importance"}.get(self.sort, self.sort.value)
            return [
                Candidate(m, "trending", "graph")
                for m in self.sources.search.list_memories(self.where, order, self.fetch_size())
            ]
        side = self._keyword_side(keyword)
        self.word_weights = side.word_weights
        memories = dict(side.memories)
        memories.update(self.sources.memories.get_many([i for i in cosines if i not in memories], fields=self.fields))
        candidates = [
            Candidate(memory, "vector", "qdrant", cosine=cosines[memory_id])
            if memory_id in cosines
            else Candidate(memory, "keyword", "graph")
            for memory_id in dict.fromkeys([*cosines, *side.hits])
            if (memory := memories.get(memory_id)) is not None
            and self.where.matches(memory)  # the record decides, whatever a vector payload says
        ]
        if searched:
            self._fill_cosines(candidates)  # keyword finds outside the nearest vectors: every signal for every one
        return candidates

    def _keyword_side(self, keyword: Future[KeywordSide] | None) -> KeywordSide:
        """The full-text side's result; if the graph failed on it, recall goes on with the vector side alone."""
        if keyword is None:
            return KeywordSide({}, {}, {})
        try:
            return keyword.result()
        except StoreUnavailable:
            raise  # the record is down or stalled: no answer can be checked against it (503)
        except LociError as exc:
            self.degraded.append(f"full-text search: {exc.message}")
            log.warning("full-text side failed; recall goes on without it", extra={"event": "recall.degraded"})
            return KeywordSide({}, {}, {})

    def _score(self, candidate: Candidate) -> None:
        memory, query = candidate.memory, self.params.query or ""
        parts = candidate.components
        content_words = tokens(memory.content)
        parts.vector = vector_score(candidate.cosine)
        parts.keyword = keyword_score(self.words, WordSet(content_words), self.word_weights)
        parts.tag = tag_score(self.words, memory.tags)
        parts.exact = exact_score(query, content_words, memory.tag_keys) if query else 0.0
        parts.importance = memory.importance
        parts.confidence = memory.confidence
        parts.recency = recency_score(memory.timestamp, self.now, self.sources.settings.search_recency_window_days)
        parts.priority = self.focus.bonus(memory)
        candidate.score = parts.total(self.weights)

    def _predecessors(self, candidates: list[Candidate]) -> Future[dict[str, str]] | None:
        """Each candidate's nearest earlier memory (PRECEDED_BY), read in the background; None if not needed."""
        if not self.params.query or not self.weights.context or not candidates:
            return None
        return self.sources.background.submit(self.sources.search.predecessors, [c.id for c in candidates])

    def _add_context(self, candidates: list[Candidate], neighbours: Future[dict[str, str]] | None) -> None:
        """`context`: the best query match among a candidate's candidate neighbours in time (PRECEDED_BY)."""
        if neighbours is None:
            return
        try:
            before = neighbours.result()
        except LociError as exc:
            self.degraded.append(f"graph: {exc.message}")  # scored without the context signal
            return
        by_id = {c.id: c for c in candidates}
        match = {c.id: c.components.query_match(self.weights) for c in candidates}
        for later, earlier in before.items():
            if earlier in by_id and later in by_id:  # adjacent: nothing lies between them in time
                by_id[later].components.context = max(by_id[later].components.context, match[earlier])
                by_id[earlier].components.context = max(by_id[earlier].components.context, match[later])
        for candidate in candidates:
            candidate.score = candidate.components.total(self.weights)

    def _fill_cosines(self, candidates: list[Candidate]) -> None:
        """Give candidates found another way than by vector search their cosine, scored by the vector store."""
        missing = [c for c in candidates if c.cosine is None]
        if not missing or self.vector is None:
            return
        try:
            found = self.sources.vectors.similarities(self.vector, [c.id for c in missing])
        except LociError as exc:
            self.degraded.append(f"vector store: {exc.message}")  # scored without the vector signal
            return
        for candidate in missing:
            candidate.cosine = found.get(candidate.id)

    def _expand(self, seeds: list[Candidate]) -> list[Candidate]:
        params = self.params
        limits = expansion.ExpansionLimits(
            respect_tags=params.expand_respect_tags or False,
            min_importance=params.expand_min_importance or 0.0,
            min_strength=params.expand_min_strength or 0.0,
        )
        extra = expansion.neighbors(
            self.sources.relations,
            seeds,
            AUTHORABLE_RELATIONS,
            self.relation_limit,
            self.expansion_limit,
            self.where,
            limits,
        )
        if params.current_state:
            extra = expansion.current_state(self.sources.relations, extra, self.where, self.now).kept
            extra = [c for c in extra if c.match_type == "relation"]
        self._fill_cosines(extra)
        for candidate in extra:
            relation = candidate.components.relation
            self._score(candidate)
            candidate.components.relation = relation
            candidate.score = candidate.components.total(self.weights)
        return extra

    @property
    def min_score(self) -> float:
        given = self.params.min_score
        return given if given is not None else self.sources.settings.recall_min_score

    def _expand_entities(self, seeds: list[Candidate]) -> tuple[list[Candidate], list[str]]:
        """Memories sharing an entity with the results: the most shared entities first, their newest
        memories each, scored with ENTITY_BONUS; the request's tags bind them only with `expand_respect_tags`."""
        try:
            shared = self.sources.entities.shared_entity_memories([c.id for c in seeds], MAX_ENTITIES, PER_ENTITY)
            read = self.sources.memories.get_many([memory_id for _, _, memory_id in shared], fields=self.fields)
        except LociError as exc:
            self.degraded.append(f"graph: {exc.message}")
            return [], []
        stamp, respect = iso(self.now), bool(self.params.expand_respect_tags)
        extra = [
            Candidate(memory, "entity_expansion", "graph", related_to=seed_id, expanded_from_entity=entity_id)
            for seed_id, entity_id, memory_id in shared
            if (memory := read.get(memory_id)) is not None
            and self.where.matches(memory, check_tags=respect)
            and (not self.params.current_state or expansion.is_current(memory, stamp))
        ]
        self._fill_cosines(extra)
        for candidate in extra:
            candidate.components.entity = ENTITY_BONUS
            self._score(candidate)
        return extra, list(dict.fromkeys(entity_id for _, entity_id, _ in shared))

    def select(self, candidates: list[Candidate]) -> tuple[list[Candidate], int]:
        """Rank, drop repeats and low scores, then cut to the limit; returns (results, repeats dropped).

        Priority ids come first and stay, whatever their score and however many there are.
        """
        if self.recency_bias and self.sort is SortMode.SCORE:
            apply_recency_bias(candidates, self.weights)
        ranked = self._rank(candidates)
        pinned = [c for c in ranked if c.id in self.focus.ids]
        ranked, removed = _dedupe(pinned + [c for c in ranked if c.id not in self.focus.ids])
        rest = [c for c in ranked[len(pinned) :] if c.score >= self.min_score or self.min_score <= 0]
        return ranked[: len(pinned)] + rest[: max(0, self.params.limit - len(pinned))], removed

    def floor(self, ranked: list[Candidate]) -> tuple[list[Candidate], int]:
        """The adaptive floor, when asked for and the results are sorted by score."""
        if not self.adaptive_floor or self.sort is not SortMode.SCORE:
            return ranked, 0
        return adaptive_floor(ranked, keep=self.focus.ids)

    # --- what recall's options add
    def _pinned(self, found: list[Candidate]) -> list[Candidate]:
        """The priority ids not found otherwise, read by id: they are in the results whatever the filter."""
        have = {c.id for c in found}
        missing = [memory_id for memory_id in self.params.priority_ids if memory_id not in have]
        if not missing:
            return []
        read = self.sources.memories.get_many(missing, fields=self.fields)
        pinned = [Candidate(memory, "priority_id", "graph") for memory_id in missing if (memory := read.get(memory_id))]
        self._fill_cosines(pinned)
        return pinned

    def _inject(self, ranked: list[Candidate]) -> bool:
        """When the request has a focus and no result fits it, the best memory that does takes the last place."""
        focus = self.focus
        if not focus.tags or not ranked or any(focus.fits(c.memory) for c in ranked):
            return False
        where = replace(self.where, tags=focus.tags, tag_mode=TagMode.ANY, tag_match=TagMatch.PREFIX)
        present = {c.id for c in ranked}
        try:
            options = [m for m in self.sources.search.list_memories(where, "importance", 5) if m.id not in present]
        except LociError as exc:
            self.degraded.append(f"graph: {exc.message}")
            return False
        if not options:
            return False
        candidate = Candidate(options[0], "context", "graph")
        self._fill_cosines([candidate])
        self._score(candidate)
        if len(ranked) >= self.params.limit and ranked[-1].id not in focus.ids:
            ranked.pop()
        ranked.append(candidate)
        return True

    def _scope_fallback(self, ranked: list[Candidate]) -> int:
        """With `scope_fallback`, fill results the tag scope left short from a search without it."""
        params = self.params
        short = params.limit - len(ranked)
        if not params.scope_fallback or short <= 0 or not self.where.tags or self.vector is None:
            return 0
        unscoped = replace(self.where, tags=())
        try:
            hits = self.sources.vectors.search(
                self.vector, min(2 * params.limit, self.sources.settings.recall_max_limit), unscoped
            )
        except LociError as exc:
            self.degraded.append(f"vector store: {exc.message}")
            return 0
        present = {c.id for c in ranked}
        cosines = {hit.id: hit.score for hit in hits if hit.id not in present}
        read = self.sources.memories.get_many(list(cosines), fields=self.fields)
        stamp = iso(self.now)
        fills = [
            Candidate(memory, "vector", "qdrant", cosine=cosines[memory_id], outside_tag_scope=True)
            for memory_id in cosines
            if (memory := read.get(memory_id)) is not None
            and unscoped.matches(memory)
            and not self.where.matches(memory)
            and (not params.current_state or expansion.is_current(memory, stamp))
        ]
        for candidate in fills:
            self._score(candidate)
        fills = [c for c in self._rank(fills) if c.score >= self.min_score or self.min_score <= 0][:short]
        ranked.extend(fills)
        return len(fills)

    def _rank(self, candidates: list[Candidate]) -> list[Candidate]:
        sort = self.sort
        if sort is SortMode.SCORE:
            return sorted(
                candidates,
                key=lambda c: (
                    -c.score,
                    c.source != "qdrant",
                    -c.memory.importance,
                    -(epoch(c.memory.timestamp) or 0.0),
                ),
            )
        field_name = "timestamp" if sort in (SortMode.TIME_DESC, SortMode.TIME_ASC) else "updated_at"
        descending = sort in (SortMode.TIME_DESC, SortMode.UPDATED_DESC)
        return sorted(candidates, key=lambda c: getattr(c.memory, field_name) or "", reverse=descending)

    def _relations(self, ranked: list[Candidate]) -> dict[str, list[dict[str, object]]]:
        try:
            return self.sources.relations.outgoing_edges([c.id for c in ranked])
        except LociError:
            return {}


def _dedupe(candidates: list[Candidate]) -> tuple[list[Candidate], int]:
    """Drop later results whose content is the same as an earlier one's (first 320 chars, spacing and case aside)."""
    seen: set[str] = set()
    kept: list[Candidate] = []
    for candidate in candidates:
        fingerprint = " ".join(candidate.memory.content.lower().split())[:320]
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        kept.append(candidate)
    return kept, len(candidates) - len(kept)
