"""Consolidation: the scheduled jobs that keep a memory graph healthy as it grows.

- decay:    each memory's relevance from age, recent access, connections, importance and
            confidence (AutoMem's formula, `relevance`), written to the graph and the payload;
- creative: a random sample of memories, compared by vector, gains DISCOVERED links
            (explains / shares_theme / parallel_context) and CONTRADICTS links;
- cluster:  groups of close memories, found through the vector index (each memory's nearest
            neighbours, not all pairs), summarised by MetaMemory nodes with SUMMARIZES edges;
- forget:   memories whose relevance fell below the thresholds are archived or deleted,
            unless protected (flag, importance, age, type); off unless thresholds are set.

Each task is a function of the stores, the settings, `now` and `dry_run`, returning a
dict of counts; a dry run reads and computes but writes nothing. `Consolidator.run`
records every real run (task, counts, duration, error) in the graph, keeping
CONSOLIDATION_HISTORY_LIMIT of them. Every scan is paged.
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from loci.config import Settings
from loci.enrichment.text import term_counts, top_terms
from loci.errors import Conflict, LociError
from loci.events import EventBus
from loci.model import Memory, RelationType, epoch
from loci.recall.expansion import cosine
from loci.stores.filters import MemoryFilter
from loci.stores.graph import DecayRow, GraphStore, pages
from loci.stores.vectors import VectorStore
from loci.timeutil import age_days, iso, utcnow

log = logging.getLogger(__name__)

TASKS = ("decay", "creative", "cluster", "forget")
CLUSTER_NEIGHBOURS = 10
"""Nearest neighbours looked up per memory when clustering."""
CLUSTER_MIN_RELEVANCE = 0.3
CREATIVE_MIN_RELEVANCE = 0.3
CHANGE_WORDS = re.compile(r"\b(not|no longer|never|instead|stopped|switched|replaced|dropped|won't|don't)\b", re.I)
"""Wording that marks a decision as reversing or replacing something."""


def relevance(
    *, importance: float, confidence: float, age: float, since_access: float, edges: int, rate: float, floor: float
) -> float:
    """AutoMem's relevance score, 0..1.

    e^(-rate·age) · (0.3 + 0.3·access) · (1 + 0.3·ln(1+edges)) · (0.5 + importance) · (0.7 + 0.3·confidence),
    where access is 1 within a day of the last access and e^(-0.05·days) after; never below
    importance·floor.
    """
    access = 1.0 if since_access < 1 else math.exp(-0.05 * since_access)
    score = (
        math.exp(-rate * max(age, 0.0))
        * (0.3 + 0.3 * access)
        * (1 + 0.3 * math.log1p(edges))
        * (0.5 + importance)
        * (0.7 + 0.3 * confidence)
    )
    return round(min(1.0, max(score, importance * floor)), 4)


def bucket(score: float) -> str:
    return "high" if score > 0.7 else "medium" if score > 0.3 else "low" if score > 0.1 else "archive"


def decay(
    graph: GraphStore,
    vectors: VectorStore,
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool,
    scheduled: bool = False,
) -> dict[str, Any]:
    """Recompute relevance for every live memory (scheduled runs: the important ones only)."""
    min_importance = settings.consolidation_decay_importance_threshold if scheduled else None
    buckets: Counter[str] = Counter()
    total = 0.0
    for page in graph.maintenance.iter_decay_rows(
        min_importance=min_importance, excluded_types=settings.recall_excluded_types
    ):
        scores = [(row.id, _relevance(row, settings, now)) for row in page]
        buckets.update(bucket(score) for _, score in scores)
        total += sum(score for _, score in scores)
        if not dry_run:
            graph.maintenance.set_relevance(scores)
            vectors.set_payloads([(memory_id, {"relevance_score": score}) for memory_id, score in scores])
    processed = sum(buckets.values())
    return {
        "processed": processed,
        "average_relevance": round(total / processed, 4) if processed else None,
        "buckets": {name: buckets.get(name, 0) for name in ("high", "medium", "low", "archive")},
    }


def _relevance(row: DecayRow, settings: Settings, now: datetime) -> float:
    age = age_days(row.timestamp, now) or 0.0
    since_access = age_days(row.last_accessed, now)
    return relevance(
        importance=row.importance,
        confidence=row.confidence,
        age=age,
        since_access=age if since_access is None else since_access,
        edges=row.edges,
        rate=settings.consolidation_base_decay_rate,
        floor=settings.consolidation_importance_floor_factor,
    )


def creative(
    graph: GraphStore,
    vectors: VectorStore,
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool,
    scheduled: bool = False,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Compare a random sample pairwise by vector and link what the rules find (unlinked pairs only)."""
    sample = graph.maintenance.sample_memories(
        settings.consolidation_creative_sample_size, CREATIVE_MIN_RELEVANCE, settings.recall_excluded_types
    )
    (rng or random.Random()).shuffle(sample)
    points = {p.id: p.vector for p in vectors.retrieve([m.id for m in sample], with_vectors=True) if p.vector}
    sample = [m for m in sample if m.id in points]
    linked = graph.maintenance.linked_pairs([m.id for m in sample])
    found: dict[RelationType, list[dict[str, Any]]] = {RelationType.DISCOVERED: [], RelationType.CONTRADICTS: []}
    for i, a in enumerate(sample):
        for b in sample[i + 1 :]:
            if frozenset((a.id, b.id)) in linked:
                continue
            link = _creative_link(a, b, cosine(points[a.id], points[b.id]) or 0.0)
            if link:
                relation, props = link
                found[relation].append({"src": a.id, "dst": b.id, "props": {**props, "origin": "consolidation"}})
    if not dry_run:
        for relation, links in found.items():
            graph.maintenance.add_links(relation, links)
    return {
        "sampled": len(sample),
        "discovered": len(found[RelationType.DISCOVERED]),
        "contradictions": len(found[RelationType.CONTRADICTS]),
        "kinds": dict(Counter(link["props"].get("kind", "contradicts") for links in found.values() for link in links)),
    }


def _creative_link(a: Memory, b: Memory, similarity: float) -> tuple[RelationType, dict[str, Any]] | None:
    """The rules, in order. Contradiction: two decisions on the same topic, one worded as a reversal."""
    sim = round(similarity, 4)
    if (
        a.type == b.type == "Decision"
        and sim >= 0.6
        and bool(CHANGE_WORDS.search(a.content)) != bool(CHANGE_WORDS.search(b.content))
    ):
        return RelationType.CONTRADICTS, {"confidence": 0.6, "similarity": sim, "reason": "reversal on the same topic"}
    if {a.type, b.type} == {"Insight", "Pattern"} and sim > 0.5:
        return RelationType.DISCOVERED, {"kind": "explains", "confidence": 0.7, "similarity": sim}
    if sim > 0.7 and a.type != b.type:
        return RelationType.DISCOVERED, {"kind": "shares_theme", "confidence": sim, "similarity": sim}
    apart = abs((epoch(a.timestamp) or 0) - (epoch(b.timestamp) or 0)) / 86400
    if apart <= 7 and 0.25 <= sim < 0.4:
        return RelationType.DISCOVERED, {"kind": "parallel_context", "confidence": 0.5, "similarity": sim}
    return None


def cluster(
    graph: GraphStore,
    vectors: VectorStore,
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool,
    scheduled: bool = False,
) -> dict[str, Any]:
    """Connected groups of live memories closer than CONSOLIDATION_CLUSTER_SIMILARITY_THRESHOLD, each summarised.

    Archived memories and those whose relevance fell to CLUSTER_MIN_RELEVANCE or below
    take no part: they neither join nor bridge groups.
    """
    threshold = settings.consolidation_cluster_similarity_threshold
    where = MemoryFilter(excluded_types=settings.recall_excluded_types)
    eligible: set[str] = set()
    close_pairs: list[tuple[str, str]] = []
    for page in pages(graph.memories.iter_ids(excluded_types=settings.recall_excluded_types)):
        points = [p for p in vectors.retrieve(page, with_vectors=True) if p.vector and _clusterable(p.payload)]
        eligible.update(p.id for p in points)
        hits = vectors.search_batch([p.vector or [] for p in points], CLUSTER_NEIGHBOURS + 1, where)
        for point, neighbours in zip(points, hits, strict=True):
            close_pairs += [(point.id, hit.id) for hit in neighbours if hit.id != point.id and hit.score >= threshold]
    parent: dict[str, str] = {}
    for a, b in close_pairs:
        if b in eligible:
            _union(parent, a, b)
    groups: dict[str, list[str]] = {}
    for member in list(parent):
        groups.setdefault(_find(parent, member), []).append(member)
    rows = [
        _meta_memory(graph, sorted(ids), now)
        for ids in groups.values()
        if len(ids) >= settings.consolidation_min_cluster_size
    ]
    if not dry_run:
        graph.maintenance.replace_meta_memories(rows)
    return {
        "scanned": len(eligible),
        "clusters": len(rows),
        "sizes": sorted((len(r["members"]) for r in rows), reverse=True),
    }


def _clusterable(payload: dict[str, Any]) -> bool:
    relevance_score = payload.get("relevance_score")
    return not payload.get("archived") and (relevance_score is None or relevance_score > CLUSTER_MIN_RELEVANCE)


def _meta_memory(graph: GraphStore, ids: list[str], now: datetime) -> dict[str, Any]:
    """A MetaMemory node (not recalled, no vector) summarising a cluster by its common terms."""
    members = list(graph.memories.get_many(ids).values())
    terms = top_terms(sum((term_counts(m.content) for m in members), Counter()))
    kind = Counter(m.type for m in members).most_common(1)[0][0] if members else "Memory"
    stamp = iso(now)
    node = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "loci-cluster:" + ",".join(ids))),
        "content": f"Meta-pattern: {len(ids)} {kind} memories about {', '.join(terms)}",
        "type": "MetaPattern",
        "confidence": 0.8,
        "importance": max((m.importance for m in members), default=0.5),
        "cluster_size": len(ids),
        "key_terms": terms,
        "timestamp": stamp,
        "stored_at": stamp,
        "relevance_score": 0.9,
        "tags": [],
    }
    return {"node": node, "members": ids}


def forget(
    graph: GraphStore,
    vectors: VectorStore,
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool,
    scheduled: bool = False,
) -> dict[str, Any]:
    """Archive or delete memories whose relevance fell below the thresholds, unless protected.

    Archived memories are scanned too, so one that keeps fading is deleted in the end.
    """
    delete_below, archive_below = settings.consolidation_delete_threshold, settings.consolidation_archive_threshold
    if delete_below <= 0 and archive_below <= 0:
        return {"skipped": "CONSOLIDATION_DELETE_THRESHOLD and CONSOLIDATION_ARCHIVE_THRESHOLD are 0"}
    to_delete: list[str] = []
    to_archive: list[str] = []
    protected = 0
    rows = graph.maintenance.iter_decay_rows(
        min_importance=None, excluded_types=settings.recall_excluded_types, include_archived=True
    )
    for batch in rows:
        for row in batch:
            score = _relevance(row, settings, now)
            if score >= max(delete_below, archive_below) or (row.archived and score >= delete_below):
                continue
            if _protected(row, settings, now):
                protected += 1
            elif score < delete_below:
                to_delete.append(row.id)
            else:
                to_archive.append(row.id)
    if not dry_run:
        for ids in pages(to_archive):
            graph.maintenance.archive(ids, iso(now))
            vectors.set_payloads([(memory_id, {"archived": True}) for memory_id in ids])
        for ids in pages(to_delete):
            vectors.delete(graph.memories.delete_many(ids))
    return {"archived": len(to_archive), "deleted": len(to_delete), "protected": protected}


def _protected(row: DecayRow, settings: Settings, now: datetime) -> bool:
    return bool(
        row.protected
        or row.importance >= settings.consolidation_importance_protection_threshold
        or (age_days(row.timestamp, now) or 0) < settings.consolidation_grace_period_days
        or row.type in settings.consolidation_protected_types
    )


TaskFunction = Callable[..., dict[str, Any]]
TASK_FUNCTIONS: dict[str, TaskFunction] = {"decay": decay, "creative": creative, "cluster": cluster, "forget": forget}


class Consolidator:
    """Runs tasks one at a time each, records every run, and announces them on the event bus.

    Real runs are recorded in the graph (kept per task to CONSOLIDATION_HISTORY_LIMIT);
    dry runs, which must write nothing, are kept in this process only. `extra_tasks`
    adds jobs that want the same bookkeeping (the sync job): callables taking `dry_run`.
    """

    def __init__(
        self,
        graph: GraphStore,
        vectors: VectorStore,
        settings: Settings,
        events: EventBus,
        extra_tasks: dict[str, Callable[[bool], dict[str, Any]]] | None = None,
    ) -> None:
        self.graph, self.vectors, self.settings, self.events = graph, vectors, settings, events
        self.extra_tasks = extra_tasks or {}
        self._locks = {task: threading.Lock() for task in (*TASKS, *self.extra_tasks)}
        self._dry_runs: deque[dict[str, Any]] = deque(maxlen=settings.consolidation_history_limit)

    def run(self, mode: str, *, dry_run: bool, scheduled: bool = False) -> dict[str, Any]:
        """Run one task or `full` (all four, in order); returns AutoMem's consolidation body."""
        tasks = TASKS if mode == "full" else (mode,)
        started = utcnow()
        steps = {task: self.run_task(task, dry_run=dry_run, scheduled=scheduled, mode=mode) for task in tasks}
        return {
            "mode": mode,
            "dry_run": dry_run,
            "started_at": iso(started),
            "completed_at": iso(utcnow()),
            "steps": steps,
            "success": all(step.get("success", True) for step in steps.values()),
        }

    def run_task(self, task: str, *, dry_run: bool, scheduled: bool = False, mode: str | None = None) -> dict[str, Any]:
        """Run one task now; Conflict if the same task is already running (a scheduled one just skips)."""
        lock = self._locks[task]
        if not lock.acquire(blocking=False):
            if scheduled:
                log.info("task already running; skipped", extra={"event": "consolidation.skipped", "task": task})
                return {"skipped": "already running", "success": True}
            raise Conflict(f"{task} is already running")
        try:
            return self._run_locked(task, dry_run=dry_run, scheduled=scheduled, mode=mode or task)
        finally:
            lock.release()

    def _run_locked(self, task: str, *, dry_run: bool, scheduled: bool, mode: str) -> dict[str, Any]:
        started, clock = utcnow(), time.perf_counter()
        try:
            result, error = self._call(task, started, dry_run=dry_run, scheduled=scheduled), None
        except Exception as exc:  # the task's edge: record the failure, keep the process serving
            result, error = {}, exc.message if isinstance(exc, LociError) else f"{type(exc).__name__}: {exc}"
            log.exception("consolidation task failed", extra={"event": "consolidation.failed", "task": task})
        duration_ms = round((time.perf_counter() - clock) * 1000, 1)
        step = {**result, "success": error is None, "duration_ms": duration_ms, **({"error": error} if error else {})}
        self._record(task, mode, started, step, error, dry_run=dry_run)
        log.info(
            "consolidation task ran",
            extra={
                "event": "consolidation.run",
                "task": task,
                "dry_run": dry_run,
                "ms": duration_ms,
                "success": error is None,
            },
        )
        self.events.publish(
            "consolidation.run",
            task_type=task,
            dry_run=dry_run,
            elapsed_ms=duration_ms,
            success=error is None,
            steps=result,
        )
        return step

    def _call(self, task: str, now: datetime, *, dry_run: bool, scheduled: bool) -> dict[str, Any]:
        if task in self.extra_tasks:
            return self.extra_tasks[task](dry_run)
        return TASK_FUNCTIONS[task](self.graph, self.vectors, self.settings, now, dry_run=dry_run, scheduled=scheduled)

    def history(self, limit: int) -> list[dict[str, Any]]:
        """Recorded runs and this process's dry runs, newest first."""
        runs = self.graph.maintenance.runs(limit) + list(self._dry_runs)
        return sorted(runs, key=lambda run: run["started_at"], reverse=True)[:limit]

    def _record(
        self, task: str, mode: str, started: datetime, step: dict[str, Any], error: str | None, *, dry_run: bool
    ) -> None:
        run = {
            "id": str(uuid.uuid4()),
            "task": task,
            "mode": mode,
            "dry_run": dry_run,
            "success": error is None,
            "started_at": iso(started),
            "completed_at": iso(utcnow()),
            "duration_ms": step["duration_ms"],
            "error": error,
            "result": step,
        }
        if dry_run:
            self._dry_runs.append(run)
            return
        try:
            self.graph.maintenance.record_run(run, self.settings.consolidation_history_limit)
        except LociError as exc:
            log.warning(
                "could not record the run", extra={"event": "consolidation.record_failed", "error": exc.message}
            )


def _find(parent: dict[str, str], item: str) -> str:
    parent.setdefault(item, item)
    while parent[item] != item:
        parent[item] = parent[parent[item]]
        item = parent[item]
    return item


def _union(parent: dict[str, str], a: str, b: str) -> None:
    parent[_find(parent, a)] = _find(parent, b)
