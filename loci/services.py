"""Services: the stores, queues and workers of one Loci process, opened and closed together.

`Services.open(settings)` brings everything up in dependency order (graph server, graph,
vector store, embedding provider, queue, workers); `start()` re-queues pending work and
starts the threads, once per process; `close()` stops them and releases the stores.
Views reach the one instance through `current_app.extensions["loci"]`.
"""

from __future__ import annotations

import atexit
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
from loci.embedding import configured_dimension, open_provider
from loci.enrichment.entities import EntityExtractor
from loci.enrichment.llm import LLMClassifier
from loci.enrichment.summarize import LLMSummarizer, SoftLimit
from loci.errors import ConfigError
from loci.events import EventBus
from loci.metrics import MeteredProvider, Metrics
from loci.model import Stage
from loci.pipeline.access import AccessRecorder
from loci.pipeline.embedding import EmbeddingWorker
from loci.pipeline.enrichment import EnrichmentWorker
from loci.pipeline.intake import Intake
from loci.pipeline.queue import WorkQueue
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
class Services:
    settings: Settings
    graph: GraphStore
    vectors: VectorStore
    provider: MeteredProvider
    embedding_queue: WorkQueue
    embedding_worker: EmbeddingWorker
    enrichment_queue: WorkQueue
    enrichment_worker: EnrichmentWorker
    access: AccessRecorder
    events: EventBus
    sync: SyncJob
    consolidator: Consolidator
    scheduler: Scheduler
    requests: RequestLog
    settler: Settler
    """Stores whose outcome is unknown (a timeout), settled when the graph answers (loci/unsettled.py)."""
    metrics: Metrics
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
    falkordb_server: FalkorDBServer | None = None
    configured_dimension: int = 0
    disk: DiskGuard = field(default_factory=lambda: DiskGuard((), 0))
    """Free space against LOCI_MIN_FREE_BYTES on the filesystems of the embedded stores."""
    started_at: float = field(default_factory=time.time)
    _data_lock: IO[str] | None = None
    _started_pid: int | None = None
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    @classmethod
    def open(cls, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> Services:
        """Open every store and build the workers (not started yet).

        `clock` is the monotonic clock the work queues schedule retries by; tests pass a fake
        one and advance it instead of sleeping out a retry delay.
        """
        # the free-space reserve under the embedded stores (loci/diskspace.py); below it, it says so at once
        disk = DiskGuard(local_data_dirs(settings), settings.min_free_bytes)
        disk.state()
        with ExitStack() as undo:  # on any failure, close what was opened, newest first
            data_lock = _lock_data_dir(settings.data_dir) if _uses_data_dir(settings) else None
            if data_lock:
                undo.callback(data_lock.close)
            server: FalkorDBServer | None = None
            if settings.embedded_falkordb:
                server = FalkorDBServer(
                    settings.data_dir / "falkordb",
                    password=settings.falkordb_password,
                    appendfsync=settings.falkordb_appendfsync,
                ).start()  # also starts its supervisor: a child that dies is restarted (server.state, .restarts)
                undo.callback(server.stop)
            graph = GraphStore(
                host=server.host if server else str(settings.falkordb_host),
                port=server.port if server else settings.falkordb_port,
                graph_name=settings.falkordb_graph,
                password=settings.falkordb_password,
                socket_timeout=settings.graph_timeout_seconds,
            )
            undo.callback(graph.close)
            graph.ping()
            graph.ensure_schema()
            dimension = configured_dimension(settings)
            vectors = open_vector_store(settings, dimension, disk, graph=graph)
            undo.callback(vectors.close)
            metrics = Metrics()
            provider = MeteredProvider(open_provider(settings, vectors.dimension), metrics)
            undo.pop_all()
        events = EventBus(settings.stream_max_subscribers)
        activity = RequestActivity()
        embedding_queue, enrichment_queue = WorkQueue("embedding", clock), WorkQueue("enrichment", clock)
        requests = RequestLog(graph.redis, settings.falkordb_graph, settings.idempotency_window_seconds)
        intake = Intake(graph.pipeline, vectors, embedding_queue, enrichment_queue, events)
        settler = Settler(graph, requests, intake)
        access = AccessRecorder(graph.memories, disk=disk)
        background = ThreadPoolExecutor(max_workers=16, thread_name_prefix="loci-bg")
        sync = SyncJob(graph, vectors, {Stage.EMBEDDING: embedding_queue, Stage.ENRICHMENT: enrichment_queue}, settings)
        classifier = LLMClassifier.from_settings(settings)
        consolidator = Consolidator(
            graph, vectors, settings, events, {"sync": lambda dry_run: sync.run(dry_run=dry_run)}
        )
        services = cls(
            settings=settings,
            graph=graph,
            vectors=vectors,
            provider=provider,
            embedding_queue=embedding_queue,
            embedding_worker=EmbeddingWorker(
                graph, vectors, provider, embedding_queue, settings, events, activity, disk=disk
            ),
            enrichment_queue=enrichment_queue,
            enrichment_worker=EnrichmentWorker(
                graph,
                enrichment_queue,
                embedding_queue,
                entity_extractor(settings.enrichment_spacy_model),
                classifier,
                settings,
                events,
                activity,
                disk=disk,
                summarizer=LLMSummarizer.from_settings(settings, classifier),
            ),
            activity=activity,
            access=access,
            events=events,
            sync=sync,
            consolidator=consolidator,
            scheduler=Scheduler(consolidator, settings, disk),
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
                provider,
                access,
                background,
                settings,
            ),
            background=background,
            falkordb_server=server,
            probe=StoreProbe(graph, vectors, settings.recall_excluded_types),
            configured_dimension=dimension,
            disk=disk,
            _data_lock=data_lock,
        )
        services._register_gauges()
        atexit.register(services.close)  # stop the child server and flush the stores on exit
        return services

    def _register_gauges(self) -> None:
        self._register_queue_gauges("embedding", self.embedding_queue)
        self._register_queue_gauges("enrichment", self.enrichment_queue)
        self.metrics.gauge("loci_stream_subscribers", "Open /stream connections", lambda: self.events.subscribers)

    def _register_queue_gauges(self, name: str, queue: WorkQueue) -> None:
        self.metrics.gauge(f"loci_{name}_queue_pending", f"Memories waiting for {name}", lambda: queue.stats().pending)
        self.metrics.gauge(f"loci_{name}_queue_inflight", f"Memories in {name} now", lambda: queue.stats().inflight)

    def start(self) -> None:
        """Re-queue unfinished work and start the background threads, once per process."""
        with self._guard:
            if self._started_pid == os.getpid():
                return
            self._started_pid = os.getpid()
        for worker in (self.embedding_worker, self.enrichment_worker):
            worker.requeue_pending()
            worker.start()
        self.scheduler.start()
        self.access.start()
        self.settler.start()

    def close(self) -> None:
        """Stop the threads, then release the stores and the data directory (idempotent)."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            self._started_pid = None
        atexit.unregister(self.close)
        self.scheduler.shutdown()
        self.embedding_worker.stop()
        self.enrichment_worker.stop()
        self.access.stop()
        self.settler.stop()
        self.background.shutdown(wait=True, cancel_futures=True)
        self.probe.close()
        self.vectors.close()
        self.graph.close()
        if self.falkordb_server:
            self.falkordb_server.stop()
        if self._data_lock:
            self._data_lock.close()
            self._data_lock = None


@lru_cache(maxsize=2)
def entity_extractor(preferred: str) -> EntityExtractor:
    """The entity extractor, loaded once per process (tests build many apps)."""
    return EntityExtractor.load(preferred)


def local_data_dirs(settings: Settings) -> list[Path]:
    """Directories the embedded stores write to (none for external servers)."""
    dirs = [settings.data_dir / "falkordb"] if settings.embedded_falkordb else []
    return dirs + ([settings.data_dir / "qdrant"] if settings.embedded_qdrant else [])


def _uses_data_dir(settings: Settings) -> bool:
    return settings.embedded_falkordb or settings.embedded_qdrant


def _lock_data_dir(data_dir: Path) -> IO[str]:
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
