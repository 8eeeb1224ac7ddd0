"""EnrichmentWorker: what a memory gains after it is stored.

For each batch, in ingest order (by `stored_at`):
1. entities with spaCy over the whole batch (`nlp.pipe`), or regex rules without a model:
   `entity:<category>:<slug>` tags and `metadata.entities`; the tags enrichment added
   last time are replaced, the client's own tags are kept; Entity nodes with
   REFERENCED_IN edges for these and the memory's other valid `entity:` tags (stale ones go);
2. the type, from an optional LLM, for memories the regex table left as `Memory`;
3. a first-sentence summary;
4. PRECEDED_BY links to the latest earlier memories within ENRICHMENT_TEMPORAL_WINDOW_DAYS
   of the memory's own timestamp (so imported history links correctly);
5. Pattern nodes: once three memories of a type (stored earlier, confident of it) exist,
   each further one EXEMPLIFIES its type's pattern.
Results are written only if the content is still what was enriched, and the vector
payload is refreshed through the embedding queue. SIMILAR_TO links are made by the
embedding worker, the moment a vector exists.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from loci.activity import RequestActivity
from loci.config import Settings
from loci.diskspace import DiskGuard
from loci.enrichment.entities import Entity, EntityExtractor
from loci.enrichment.entity_tags import mentions
from loci.enrichment.llm import LLMClassifier
from loci.enrichment.summarize import LLMSummarizer
from loci.enrichment.text import first_sentence, term_counts, top_terms
from loci.events import EventBus
from loci.lease import Lease
from loci.model import Memory, Stage, StageStatus
from loci.pipeline.queue import Queue, WorkItem
from loci.pipeline.worker import FAILED, RetryPolicy, StageWorker
from loci.stores.graph import GraphStore
from loci.timeutil import iso, parse_timestamp, utcnow

log = logging.getLogger(__name__)

PATTERN_THRESHOLD = 3
"""Earlier memories of a type needed before it counts as a pattern."""
PATTERN_START_CONFIDENCE, PATTERN_STEP, PATTERN_MAX_CONFIDENCE = 0.35, 0.05, 0.95


class EnrichmentWorker(StageWorker):
    stage = Stage.ENRICHMENT

    def __init__(
        self,
        graph: GraphStore,
        queue: Queue,
        embedding_queue: Queue,
        extractor: EntityExtractor,
        classifier: LLMClassifier | None,
        settings: Settings,
        events: EventBus | None = None,
        activity: RequestActivity | None = None,
        disk: DiskGuard | None = None,
        summarizer: LLMSummarizer | None = None,
        turn: Lease | None = None,
    ) -> None:
        super().__init__(
            graph,
            queue,
            batch_size=settings.enrichment_batch_size,
            retry=RetryPolicy(
                settings.enrichment_max_attempts,
                settings.enrichment_retry_base_seconds,
                settings.enrichment_retry_max_seconds,
            ),
            nice=settings.worker_nice,
            events=events,
            activity=activity,
            yield_seconds=settings.worker_yield_seconds,
            disk=disk,
            turn=turn,
        )
        self.embedding_queue, self.extractor, self.classifier = embedding_queue, extractor, classifier
        self.window = timedelta(days=settings.enrichment_temporal_window_days)
        self.temporal_limit = settings.enrichment_temporal_limit
        self.summaries = settings.enrichment_enable_summaries
        self.excluded_types = settings.recall_excluded_types
        self.summarizer = summarizer
        """Replaces first-sentences summaries of long memories with the LLM's (loci/enrichment/summarize.py)."""

    def process(self, items: Sequence[WorkItem]) -> None:
        started = time.perf_counter()
        memories = self.attempt(items, lambda: self.graph.memories.get_many([item.memory_id for item in items]))
        if memories is FAILED:
            return
        live = sorted((i for i in items if i.memory_id in memories), key=lambda i: _ingest_key(memories[i.memory_id]))
        for item in live:
            self.events.publish("enrichment.start", memory_id=item.memory_id, attempt=item.attempts + 1)
        batch = [memories[item.memory_id] for item in live]
        if not batch:
            return
        written = self.attempt(live, lambda: self._enrich(batch))
        if written is FAILED:
            return
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        for memory in batch:
            self.events.publish(
                "enrichment.complete", memory_id=memory.id, success=memory.id in written, elapsed_ms=elapsed_ms
            )

    def _enrich(self, batch: list[Memory]) -> set[str]:
        # long memories stored with a first-sentences summary get the LLM's; their new content is written below
        refined = {m.id: r for m in batch if self.summarizer and (r := self.summarizer.refine(m))}
        batch = [refined.get(m.id, m) for m in batch]
        entities = self._entities(batch)
        enriched = [self._enriched(memory, found) for memory, found in zip(batch, entities, strict=True)]
        links = self.graph.enrichment.link_preceding(
            [(m.id, parse_timestamp(m.timestamp).timestamp(), m.stored_at) for m in enriched],
            self.window.total_seconds(),
            self.temporal_limit,
            self.excluded_types,
        )
        pattern_of = self._observe_patterns(enriched)
        fields = (
            "tags", "metadata", "summary", "type", "confidence", "type_source",
            "enrichment_status", "enrichment_attempts", "enrichment_error", "enriched_at",
        )  # fmt: skip
        rows = []
        for memory in enriched:
            stats = memory.metadata["enrichment"]
            stats["temporal_links"] = links.get(memory.id, 0)
            stats["pattern"] = pattern_of.get(memory.id)
            changed = ("content", "embedding_status") if memory.id in refined else ()
            rows.append((memory.id, memory.updated_at, memory.node_fields(fields + changed)))
        written = self.graph.pipeline.apply_if_unchanged(rows)
        # the same batch step: the written memories' Entity nodes and REFERENCED_IN edges, in one query
        self.graph.entities.replace_references(
            [
                (m.id, m.updated_at, mentions(found, m.tags, m.metadata))
                for m, found in zip(enriched, entities, strict=True)
                if m.id in set(written)
            ]
        )
        edited = self.graph.memories.existing_ids([m.id for m in enriched if m.id not in set(written)])
        self.queue.put_many(edited)  # edited while we worked: enrich what they now say
        # the vector payload carries tags, metadata and summary
        self.embedding_queue.put_many(
            m.id for m in enriched if m.id in set(written) and m.embedding_status is not StageStatus.FAILED
        )
        self.stats.succeeded(written)
        log.info(
            "memories enriched", extra={"event": "enrichment.completed", "count": len(written), "memory_ids": written}
        )
        return set(written)

    def _entities(self, batch: list[Memory]) -> list[list[Entity]]:
        """Entities of the whole batch in one pass; if that fails, one memory at a time."""
        texts = [memory.content for memory in batch]
        try:
            return self.extractor.extract_many(texts)
        except Exception:  # a model failure must not sink the batch: fall back per memory
            log.exception("batched entity extraction failed", extra={"event": "enrichment.entities_batch_failed"})
        found = []
        for memory in batch:
            try:
                found.append(self.extractor.extract(memory.content))
            except Exception:
                log.exception(
                    "entity extraction failed", extra={"event": "enrichment.entities_failed", "memory_id": memory.id}
                )
                found.append([])
        return found

    def _enriched(self, memory: Memory, entities: list[Entity]) -> Memory:
        """The memory with its entity tags, entities, type, summary and enrichment record."""
        previous = set(memory.metadata.get("enrichment", {}).get("entity_tags", []))
        entity_tags = list(dict.fromkeys(entity.tag for entity in entities))
        tags = [tag for tag in memory.tags if tag not in previous]
        tags += [tag for tag in entity_tags if tag not in tags]
        by_category: dict[str, list[str]] = {}
        for entity in entities:
            by_category.setdefault(entity.category, []).append(entity.name)
        kind, confidence, source = memory.type, memory.confidence, memory.type_source
        if self.classifier and source == "regex" and kind == "Memory":
            answer = self.classifier.classify(memory.content)
            if answer:
                (kind, confidence), source = answer, "llm"
        metadata = {
            **memory.metadata,
            "entities": {category: sorted(set(names)) for category, names in sorted(by_category.items())},
            "enrichment": {"last_run": iso(utcnow()), "entity_tags": entity_tags, "extractor": self.extractor.name},
        }
        return memory.with_changes(
            tags=tags,
            metadata=metadata,
            type=kind,
            confidence=confidence,
            type_source=source,
            summary=first_sentence(memory.content) if self.summaries else memory.summary,
            enrichment_status=StageStatus.COMPLETED,
            enrichment_attempts=0,
            enrichment_error=None,
            enriched_at=iso(utcnow()),
        )

    def _observe_patterns(self, batch: list[Memory]) -> dict[str, str]:
        """Pattern observations for the batch, in ingest order; returns memory id -> pattern id."""
        patterns = self.graph.enrichment.patterns()
        already = self.graph.enrichment.exemplifying([m.id for m in batch])
        links: list[tuple[str, str, float]] = []
        touched: set[str] = set()
        for memory in batch:
            if memory.type in self.excluded_types or memory.confidence <= 0.5:
                continue
            pattern = patterns.get(memory.type)
            # a memory exemplifies its type once PATTERN_THRESHOLD earlier ones exist (ingest order);
            # `since` remembers the first that did, so later ones need no count
            if pattern is None or memory.stored_at < pattern.get("since", ""):
                if (
                    self.graph.enrichment.count_typed_before(memory.type, memory.stored_at, memory.id)
                    < PATTERN_THRESHOLD
                ):
                    continue
                if pattern is None:
                    pattern = patterns[memory.type] = _new_pattern(memory.type, memory.stored_at)
                pattern["since"] = min(pattern.get("since") or memory.stored_at, memory.stored_at)
            if memory.id not in already:
                pattern["observations"] += 1
                pattern["confidence"] = min(PATTERN_MAX_CONFIDENCE, pattern["confidence"] + PATTERN_STEP)
                counts = Counter(pattern["term_counts"]) + term_counts(memory.content)
                pattern["term_counts"] = dict(counts.most_common(50))
                pattern["key_terms"] = top_terms(counts)
                pattern["content"] = f"Recurring {memory.type} memories: {', '.join(pattern['key_terms'])}"
            links.append((memory.id, pattern["id"], pattern["confidence"]))
            touched.add(memory.type)
        self.graph.enrichment.save_patterns([patterns[kind] for kind in touched], links)
        return {memory_id: pattern_id for memory_id, pattern_id, _ in links}


def _new_pattern(kind: str, since: str) -> dict[str, Any]:
    return {
        "id": f"pattern:{kind.lower()}",
        "since": since,
        "type": kind,
        "confidence": PATTERN_START_CONFIDENCE,
        "observations": 0,
        "term_counts": {},
        "key_terms": [],
        "content": f"Recurring {kind} memories",
    }


def _ingest_key(memory: Memory) -> tuple[str, str]:
    return memory.stored_at, memory.id
