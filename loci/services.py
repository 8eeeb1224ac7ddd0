"""Services: one namespace's stores, queues and workers; Shared: what a process's namespaces share.

`Services.open_namespace(shared, name, scheduler)` opens a namespace's graph and vector
collection and builds its queues and workers; `start()` re-queues its pending work and
starts its threads, once per process; `close_namespace()` stops them and releases its
stores. The process-wide parts (graph server, embedding model, entity extractor, scheduler)
and the table of open namespaces are loci/runtime.py's. A view reaches the Services of its
request's namespace through `loci.api.inputs.services()`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO

from consolidation import Consolidator
from loci.activity import RequestActivity
from loci.config import Settings
from loci.diskspace import DiskGuard
from loci.enrichment.entities import EntityExtractor
from loci.enrichment.llm import LLMClassifier
from loci.enrichment.summarize import LLMSummarizer, SoftLimit
from loci.errors import ConfigError
from loci.events import EventBus, SubscriberSlots
from loci.lease import Lease
from loci.metrics import MeteredProvider, Metrics, NamespaceMetrics
from loci.model import Stage
from loci.namespaces import DEFAULT, collection_name, graph_name
from loci.pipeline.access import AccessRecorder
from loci.pipeline.embedding import EmbeddingWorker
from loci.pipeline.enrichment import EnrichmentWorker
from loci.pipeline.intake import Intake
from loci.pipeline.queue import Queue, WorkQueue
from loci.pipeline.streams import StreamQueue, default_consumer
from loci.pipeline.sync import SyncJob
from loci.probe import StoreProbe
from loci.recall.sources import RecallSources
from loci.scheduler import Scheduler
from loci.stores.falkordb_server import FalkorDBServer
from loci.stores.graph import GraphStore
from loci.stores.idempotency import RequestLog
from loci.stores.vectors import VectorStore, open_vector_store
from loci.unsettled import Settler
from loci.writes import Writer

log = logging.getLogger(__name__)


@dataclass
class Shared:
    """What every namespace of a process shares: the settings, the graph server, the embedding model,
    the entity extractor and LLM clients, the request activity, the background threads, the disk guard."""

    settings: Settings
    provider: MeteredProvider
    metrics: Metrics
    """Process-wide figures (the embedding provider's calls); each namespace counts its own in NamespaceMetrics."""
    activity: RequestActivity
    background: ThreadPoolExecutor
    disk: DiskGuard
    stream_slots: SubscriberSlots
    clock: Callable[[], float]
    extractor: EntityExtractor
    classifier: LLMClassifier | None
    summarizer: LLMSummarizer | None
    configured_dimension: int
    consumer: str = field(default_factory=default_consumer)
    """This process's name among the consumers of shared queues (and as the scheduler lease's holder)."""
    falkordb_server: FalkorDBServer | None = None
    started_at: float = field(default_factory=time.time)

    def open_graph(self, graph_name: str) -> GraphStore:
        return connect_graph(self.settings, self.falkordb_server, graph_name)

    def turn(self, graph: GraphStore, stage: Stage) -> Lease | None:
        """With shared queues, the lease a process holds to work a namespace's stage alone (see StageWorker.turn)."""
        if not self.settings.shared_queues:
            return None
        key = f"{{{graph.graph_name}}}:turn:{stage.value}"
        return Lease(graph.redis, key, self.consumer, self.settings.lease_ttl_seconds)

    def open_queue(self, graph: GraphStore, stage: Stage) -> Queue:
        """A namespace's queue for one stage: in this process's memory, or in Redis Streams on FalkorDB's
        server, shared by every process of a fleet and keyed by the namespace's graph (docs/fleet.md)."""
        if not self.settings.shared_queues:
            return WorkQueue(stage.value, self.clock)
        return StreamQueue(
            graph.redis,
            graph.graph_name,
            stage.value,
            consumer=self.consumer,
            visibility_timeout=self.settings.queue_visibility_seconds,
        )


@dataclass
class Services:
    """One namespace's stores, queues and workers, with references to what the process shares."""

    settings: Settings
    graph: GraphStore
    vectors: VectorStore
    provider: MeteredProvider
    embedding_queue: Queue
    embedding_worker: EmbeddingWorker
    enrichment_queue: Queue
    enrichment_worker: EnrichmentWorker
    access: AccessRecorder
    events: EventBus
    sync: SyncJob
    consolidator: Consolidator
    scheduler: Scheduler
    """The process's one scheduler, which runs each job over every namespace."""
    requests: RequestLog
    settler: Settler
    """Stores whose outcome is unknown (a timeout), settled when the graph answers (loci/unsettled.py)."""
    metrics: NamespaceMetrics
    writer: Writer
    """The write path (loci/writes.py): store, update, delete."""
    recall_sources: RecallSources
    """What recall reads (loci/recall/engine.py)."""
    activity: RequestActivity
    probe: StoreProbe
    """The stores' state for /health, read within a deadline."""
    background: ThreadPoolExecutor
    """Short tasks a request runs alongside its own work (recall's full-text side, predecessors and
    relations): as many threads as gunicorn has request threads, so requests never queue for them."""
    namespace: str = DEFAULT
    process_metrics: Metrics | None = None
    """The process's figures (the embedding provider), shown by /metrics to admins and in `default`."""
    falkordb_server: FalkorDBServer | None = None
    configured_dimension: int = 0
    disk: DiskGuard = field(default_factory=lambda: DiskGuard((), 0))
    """Free space against LOCI_MIN_FREE_BYTES on the filesystems of the embedded stores."""
    started_at: float = field(default_factory=time.time)
    on_close: Callable[[], None] | None = None
    """Set on the default namespace: closing it closes the whole process's runtime (loci/runtime.py),
    so code that holds only `app.extensions["loci"]` shuts everything down."""
    _started_pid: int | None = None
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    @classmethod
    def open_namespace(
        cls, shared: Shared, namespace: str, scheduler: Scheduler, graph: GraphStore | None = None
    ) -> Services:
        """Open a namespace's graph (creating it and its indexes if new) and vector collection, and build
        its queues and workers (not started yet). `graph` is given when the caller opened it already."""
        settings, disk = shared.settings, shared.disk
        with ExitStack() as undo:  # on any failure, close what was opened, newest first
            if graph is None:
                graph = shared.open_graph(graph_name(settings, namespace))
                undo.callback(graph.close)
                graph.ping()
                graph.ensure_schema()
            vectors = open_vector_store(
                settings,
                shared.provider.dimension,
                disk,
                collection=collection_name(settings, namespace),
                graph=graph,
            )
            undo.callback(vectors.close)
            undo.pop_all()
        events = EventBus(settings.stream_max_subscribers, shared.stream_slots)
        embedding_queue = shared.open_queue(graph, Stage.EMBEDDING)
        enrichment_queue = shared.open_queue(graph, Stage.ENRICHMENT)
        requests = RequestLog(graph.redis, graph.graph_name, settings.idempotency_window_seconds)
        intake = Intake(graph.pipeline, vectors, embedding_queue, enrichment_queue, events)
        settler = Settler(graph, requests, intake)
        access = AccessRecorder(graph.memories, disk=disk)
        sync = SyncJob(graph, vectors, {Stage.EMBEDDING: embedding_queue, Stage.ENRICHMENT: enrichment_queue}, settings)
        consolidator = Consolidator(
            graph, vectors, settings, events, {"sync": lambda dry_run: sync.run(dry_run=dry_run)}
        )
        metrics = NamespaceMetrics(namespace)
        services = cls(
            settings=settings,
            graph=graph,
            vectors=vectors,
            provider=shared.provider,
            embedding_queue=embedding_queue,
            embedding_worker=EmbeddingWorker(
                graph, vectors, shared.provider, embedding_queue, settings, events, shared.activity, disk=disk
            ),
            enrichment_queue=enrichment_queue,
            enrichment_worker=EnrichmentWorker(
                graph,
                enrichment_queue,
                embedding_queue,
                shared.extractor,
                shared.classifier,
                settings,
                events,
                shared.activity,
                disk=disk,
                summarizer=shared.summarizer,
                turn=shared.turn(graph, Stage.ENRICHMENT),
            ),
            activity=shared.activity,
            access=access,
            events=events,
            sync=sync,
            consolidator=consolidator,
            scheduler=scheduler,
            requests=requests,
            settler=settler,
            metrics=metrics,
            writer=Writer(
                graph.memories,
                graph.pipeline,
                vectors,
                requests,
                settler,
                intake,
                access,
                metrics,
                SoftLimit.from_settings(settings),
            ),
            recall_sources=RecallSources(
                graph.memories,
                graph.search,
                graph.relations,
                graph.entities,
                vectors,
                shared.provider,
                access,
                shared.background,
                settings,
            ),
            background=shared.background,
            falkordb_server=shared.falkordb_server,
            probe=StoreProbe(graph, vectors, settings.recall_excluded_types),
            configured_dimension=shared.configured_dimension,
            disk=disk,
            namespace=namespace,
            process_metrics=shared.metrics,
            started_at=shared.started_at,
        )
        services._register_gauges()
        return services

    def _register_gauges(self) -> None:
        self._register_queue_gauges("embedding", self.embedding_queue)
        self._register_queue_gauges("enrichment", self.enrichment_queue)
        self.metrics.gauge("loci_stream_subscribers", "Open /stream connections", lambda: self.events.subscribers)

    def _register_queue_gauges(self, name: str, queue: Queue) -> None:
        self.metrics.gauge(f"loci_{name}_queue_pending", f"Memories waiting for {name}", lambda: queue.stats().pending)
        self.metrics.gauge(f"loci_{name}_queue_inflight", f"Memories in {name} now", lambda: queue.stats().inflight)

    def start(self) -> None:
        """Start this namespace's threads, once per process: the pipeline workers of the stages this process
        works (LOCI_RUN_WORKERS, LOCI_WORKER_STAGES), each after re-queueing its stage's unfinished work, and
        the request side's helpers (access times, settling)."""
        with self._guard:
            if self._started_pid == os.getpid():
                return
            self._started_pid = os.getpid()
        if self.settings.run_workers:
            for worker in (self.embedding_worker, self.enrichment_worker):
                if worker.stage.value in self.settings.worker_stages:
                    worker.requeue_pending()
                    worker.start()
        self.access.start()
        self.settler.start()

    def close(self) -> None:
        """Close the whole runtime when this is its default namespace (see `on_close`), else this namespace."""
        if self.on_close is not None:
            self.on_close()
        else:
            self.close_namespace()

    def close_namespace(self) -> None:
        """Stop this namespace's threads and release its stores (idempotent)."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            self._started_pid = None
        self.embedding_worker.stop()
        self.enrichment_worker.stop()
        self.embedding_queue.close()  # a shared queue's heartbeat; what it still holds is reclaimed by the fleet
        self.enrichment_queue.close()
        self.access.stop()
        self.settler.stop()
        self.probe.close()
        self.vectors.close()
        self.graph.close()


def connect_graph(settings: Settings, server: FalkorDBServer | None, graph_name: str) -> GraphStore:
    """A connection to one graph on the embedded server, or on FALKORDB_HOST when there is none."""
    return GraphStore(
        host=server.host if server else str(settings.falkordb_host),
        port=server.port if server else settings.falkordb_port,
        graph_name=graph_name,
        password=settings.falkordb_password,
        socket_timeout=settings.graph_timeout_seconds,
    )


@lru_cache(maxsize=2)
def entity_extractor(preferred: str) -> EntityExtractor:
    """The entity extractor, loaded once per process (tests build many apps)."""
    return EntityExtractor.load(preferred)


def local_data_dirs(settings: Settings) -> list[Path]:
    """Directories the embedded stores write to (none for external servers)."""
    dirs = [settings.data_dir / "falkordb"] if settings.embedded_falkordb else []
    return dirs + ([settings.data_dir / "qdrant"] if settings.embedded_qdrant else [])


def uses_data_dir(settings: Settings) -> bool:
    return settings.embedded_falkordb or settings.embedded_qdrant


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the data directory: two processes must never share it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(data_dir / ".loci.lock", "w")  # noqa: SIM115 - held for the process's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(f"another Loci process is using LOCI_DATA_DIR={data_dir}") from None
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
