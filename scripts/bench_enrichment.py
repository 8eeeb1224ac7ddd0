"""Enrichment and consolidation benchmark.

1. Enrichment throughput, memories/s, with spaCy batched (`nlp.pipe` over the worker's
   batch) against one memory at a time, on the same texts in the same run; each on a
   fresh graph, the worker driven in-process (no HTTP), embedding not involved.
2. A full consolidation (decay, creative, cluster, forget) at 10,000 memories that are
   stored, embedded (MiniLM) and enriched first.

Usage: python scripts/bench_enrichment.py [--enrich 2000] [--memories 10000] [--out bench-results/enrichment.json]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench_api import machine, memory_text

from loci.config import LogFormat, Settings
from loci.factory import create_app
from loci.schemas import StoreMemory
from loci.services import Services
from loci.timeutil import iso, utcnow
from loci.writes import build_memory

SEED = 7


def services(data_dir: Path, **overrides: Any) -> Services:
    settings = Settings(data_dir=data_dir, log_level="WARNING", log_format=LogFormat.TEXT, **overrides)
    svc: Services = create_app(settings, start_workers=False).extensions["loci"]
    return svc


def store(svc: Services, texts: list[str], stamps: list[str] | None = None) -> list[str]:
    """Write memories straight to the graph (500 per query) and queue both stages, as the API would."""
    start = utcnow()  # one microsecond apart, as the API stores them one after another
    memories = [
        build_memory(
            StoreMemory(content=text, timestamp=stamps[n] if stamps else None), iso(start + timedelta(microseconds=n))
        )
        for n, text in enumerate(texts)
    ]
    for offset in range(0, len(memories), 500):
        svc.graph.memories.create(memories[offset : offset + 500])
    ids = [memory.id for memory in memories]
    svc.embedding_queue.put_many(ids)
    svc.enrichment_queue.put_many(ids)
    return ids


def enrichment_rate(texts: list[str], batch_size: int) -> float:
    """Memories per second through the enrichment worker with this batch size (fresh graph, no embedding)."""
    with tempfile.TemporaryDirectory() as tmp:
        svc = services(Path(tmp), embedding_provider="placeholder", enrichment_batch_size=batch_size)
        try:
            store(svc, texts)
            started = time.perf_counter()
            svc.enrichment_worker.drain(timeout=3600)
            return len(texts) / (time.perf_counter() - started)
        finally:
            svc.close()


def consolidation_at(count: int, rng: random.Random) -> dict[str, Any]:
    """Store, embed and enrich `count` memories, then time one full consolidation."""
    with tempfile.TemporaryDirectory() as tmp:
        svc = services(Path(tmp))
        try:
            start = time.perf_counter()
            stamps = [f"2026-{1 + n % 10:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00+00:00" for n in range(count)]
            store(svc, [memory_text(rng) for _ in range(count)], stamps)
            svc.embedding_worker.drain(timeout=7200)
            embedded = time.perf_counter() - start
            svc.enrichment_worker.drain(timeout=7200)
            svc.embedding_worker.drain(timeout=7200)  # payload refreshes after enrichment
            enriched = time.perf_counter() - start
            svc.vectors.maintain()
            started = time.perf_counter()
            result = svc.consolidator.run("full", dry_run=False)
            total = time.perf_counter() - started
            return {
                "memories": count,
                "prepare_s": {"embedded": round(embedded, 1), "enriched": round(enriched, 1)},
                "full_consolidation_s": round(total, 2),
                "steps_ms": {task: step["duration_ms"] for task, step in result["steps"].items()},
                "steps": result["steps"],
            }
        finally:
            svc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--enrich", type=int, default=2000, help="memories for the enrichment comparison")
    parser.add_argument("--memories", type=int, default=10_000, help="memories for the consolidation run")
    parser.add_argument("--out", type=Path, default=Path("bench-results/enrichment.json"))
    args = parser.parse_args()
    rng = random.Random(SEED)
    texts = [memory_text(rng) for _ in range(args.enrich)]
    batched = enrichment_rate(texts, 64)
    print(f"enrichment, spaCy batched (64): {batched:.0f} memories/s", flush=True)
    single = enrichment_rate(texts, 1)
    print(f"enrichment, one at a time:      {single:.0f} memories/s  (batched = {batched / single:.2f}x)", flush=True)
    consolidation = consolidation_at(args.memories, rng)
    print(f"full consolidation at {args.memories} memories: {consolidation['full_consolidation_s']} s", flush=True)
    print("  steps (ms):", consolidation["steps_ms"], flush=True)
    results = {
        "machine": machine(),
        "enrichment": {"memories": args.enrich, "batched_per_s": round(batched, 1), "single_per_s": round(single, 1)},
        "consolidation": consolidation,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
