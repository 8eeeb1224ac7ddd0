"""Metrics: embedding provider throughput, latency and errors (the process's), and each namespace's
stores and pipeline gauges.

`MeteredProvider` wraps the embedding provider, so every call (the worker's batches and
recall's query embeddings) is counted once, in a prometheus-client registry: /metrics
exposes it and /health reads its totals from it. Only the latencies of the most recent
calls are kept beside it, for /health's percentiles. Queue and store gauges are read when
scraped.
Each app has its own registry, so several apps in one process (the tests) never collide.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from loci.embedding.base import EmbeddingProvider
from loci.errors import EmbeddingError

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RECENT_CALLS = 1000
"""Latencies kept in-process for the percentiles in /health."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "loci_embedding_requests", "Embedding provider calls", ["provider", "outcome"], registry=self.registry
        )
        self.texts = Counter(
            "loci_embedding_texts", "Texts sent to the embedding provider", ["provider"], registry=self.registry
        )
        self.latency = Histogram(
            "loci_embedding_request_seconds",
            "Embedding provider call latency",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value is read at scrape time."""
        Gauge(name, documentation, registry=self.registry).set_function(read)


class NamespaceMetrics:
    """One namespace's figures, in a registry of its own labelled with the namespace, so a namespace's
    /metrics shows nothing of another's."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.registry = CollectorRegistry()
        self.stored = Counter("loci_memories_stored", "Memories stored", ["namespace"], registry=self.registry).labels(
            namespace
        )
        self.deduplicated = Counter(
            "loci_memories_deduplicated",
            "Stores answered with an existing memory",
            ["namespace"],
            registry=self.registry,
        ).labels(namespace)

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value is read at scrape time."""
        Gauge(name, documentation, ["namespace"], registry=self.registry).labels(self.namespace).set_function(read)


class MeteredProvider:
    """An EmbeddingProvider that counts and times every call of the one it wraps."""

    def __init__(self, inner: EmbeddingProvider, metrics: Metrics) -> None:
        self.inner, self.metrics = inner, metrics
        self.name, self.model, self.dimension = inner.name, inner.model, inner.dimension
        self.remote, self.runtime = inner.remote, inner.runtime
        self._lock = threading.Lock()
        self._recent: deque[float] = deque(maxlen=RECENT_CALLS)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            vectors = self.inner.embed(texts)
        except EmbeddingError:
            self._note(time.perf_counter() - started, len(texts), ok=False)
            raise
        self._note(time.perf_counter() - started, len(texts), ok=True)
        return vectors

    def _note(self, seconds: float, count: int, *, ok: bool) -> None:
        self.metrics.requests.labels(self.name, "ok" if ok else "error").inc()
        self.metrics.latency.labels(self.name).observe(seconds)
        if ok:
            self.metrics.texts.labels(self.name).inc(count)
        with self._lock:
            self._recent.append(seconds)

    def report(self) -> dict[str, Any]:
        """Calls, errors, texts, texts per second of provider time, latency percentiles (ms)."""
        with self._lock:
            recent = sorted(self._recent)
        registry, provider = self.metrics.registry, {"provider": self.name}
        ok = registry.get_sample_value("loci_embedding_requests_total", {**provider, "outcome": "ok"}) or 0.0
        errors = int(registry.get_sample_value("loci_embedding_requests_total", {**provider, "outcome": "error"}) or 0)
        calls = int(ok) + errors
        texts = int(registry.get_sample_value("loci_embedding_texts_total", provider) or 0)
        seconds = registry.get_sample_value("loci_embedding_request_seconds_sum", provider) or 0.0

        def pct(q: float) -> float | None:
            return round(recent[min(len(recent) - 1, int(q * len(recent)))] * 1000, 1) if recent else None

        return {
            "calls": calls,
            "errors": errors,
            "texts": texts,
            "texts_per_second": round(texts / seconds, 1) if seconds else None,
            "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99)},
        }
