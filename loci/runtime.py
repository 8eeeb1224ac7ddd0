"""Runtime: one Loci process, its shared parts and the namespaces it has open.

`Runtime.open(settings)` brings the process up in dependency order (data directory lock,
graph server, the `default` namespace's graph and vectors, the embedding model, the entity
extractor) and opens `default`. Other namespaces open on first use (`namespace(name)`),
each with its own graph, vector collection, queues and workers (loci/services.py), and are
started at once if the runtime is; `start()` also opens every namespace that already
exists, so their unfinished work resumes. The one scheduler runs each job over every
namespace in turn (`EveryNamespace`).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import IO, Any

from loci.activity import RequestActivity
from loci.config import Settings
from loci.diskspace import DiskGuard
from loci.embedding import configured_dimension, open_provider
from loci.enrichment.llm import LLMClassifier
from loci.enrichment.summarize import LLMSummarizer
from loci.errors import ConfigError, NotFound
from loci.events import SubscriberSlots
from loci.lease import Lease
from loci.metrics import MeteredProvider, Metrics
from loci.namespaces import DEFAULT, Tokens, collection_name, graph_name, namespace_of_graph, valid_name
from loci.scheduler import Scheduler
from loci.services import (
    Services,
    Shared,
    connect_graph,
    entity_extractor,
    local_data_dirs,
    lock_data_dir,
    uses_data_dir,
)
from loci.stores.falkordb_server import FalkorDBServer
from loci.stores.graph import GraphStore
from loci.stores.vectors import drop_collection, open_vector_store

log = logging.getLogger(__name__)

NAMESPACE_WATCH_SECONDS = 2.0
"""How often a process working shared queues looks for namespaces another process created."""
BACKGROUND_THREADS = 16
"""As many as gunicorn has request threads (loci/serving/gunicorn_config.py), so requests never queue."""


class Runtime:
    def __init__(self, shared: Shared, tokens: Tokens, data_lock: IO[str] | None, lease: Lease | None = None) -> None:
        self.shared, self.settings, self.tokens = shared, shared.settings, tokens
        self.lease = lease
        """With shared queues, the fleet's scheduler lease: only its holder runs the scheduled jobs."""
        self.scheduler = Scheduler(EveryNamespace(self), shared.settings, shared.disk, lease=lease)
        self._data_lock = data_lock
        self._spaces: dict[str, Services] = {}
        self._lock = threading.RLock()
        self._started = False
        self._closed = False
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> Runtime:
        """Open the shared parts and the `default` namespace (workers not started yet).

        `clock` is the monotonic clock the work queues schedule retries by; tests pass a fake
        one and advance it instead of sleeping out a retry delay.
        """
        tokens = Tokens.from_settings(settings)  # a bad LOCI_TOKENS_FILE stops the start here, with its reason
        if settings.web_processes > 1 and (uses_data_dir(settings) or not settings.shared_queues):
            raise ConfigError(
                "LOCI_WEB_PROCESSES > 1 needs external stores (FALKORDB_HOST, and QDRANT_URL or VECTOR_STORE=falkordb) "
                "and shared queues: embedded stores belong to one process"
            )
        # the free-space reserve under the embedded stores (loci/diskspace.py); below it, it says so at once
        disk = DiskGuard(local_data_dirs(settings), settings.min_free_bytes)
        disk.state()
        with ExitStack() as undo:  # on any failure, close what was opened, newest first
            data_lock = lock_data_dir(settings.data_dir) if uses_data_dir(settings) else None
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
            graph = connect_graph(settings, server, graph_name(settings, DEFAULT))
            undo.callback(graph.close)
            graph.ping()
            graph.ensure_schema()
            dimension = configured_dimension(settings)
            # the default collection settles the dimension (autodetected from what it holds); every namespace uses it
            probe = open_vector_store(
                settings, dimension, disk, collection=collection_name(settings, DEFAULT), graph=graph
            )
            undo.callback(probe.close)
            metrics = Metrics()
            provider = MeteredProvider(open_provider(settings, probe.dimension), metrics)
            probe.close()
            undo.pop_all()
        classifier = LLMClassifier.from_settings(settings)
        shared = Shared(
            settings=settings,
            provider=provider,
            metrics=metrics,
            activity=RequestActivity(),
            background=ThreadPoolExecutor(max_workers=BACKGROUND_THREADS, thread_name_prefix="loci-bg"),
            disk=disk,
            stream_slots=SubscriberSlots(settings.stream_max_subscribers),
            clock=clock,
            extractor=entity_extractor(settings.enrichment_spacy_model),
            classifier=classifier,
            summarizer=LLMSummarizer.from_settings(settings, classifier),
            configured_dimension=dimension,
            falkordb_server=server,
        )
        lease = (
            Lease(graph.redis, f"loci:{settings.falkordb_graph}:scheduler", shared.consumer, settings.lease_ttl_seconds)
            if settings.shared_queues
            else None
        )
        runtime = cls(shared, tokens, data_lock, lease)
        try:
            default = Services.open_namespace(shared, DEFAULT, runtime.scheduler, graph)
        except BaseException:
            graph.close()
            runtime.close()
            raise
        default.on_close = runtime.close
        runtime._spaces[DEFAULT] = default
        metrics.gauge("loci_stream_subscribers_total", "Open /stream connections, all namespaces",
                      lambda: sum(space.events.subscribers for space in runtime.open_namespaces()))  # fmt: skip
        atexit.register(runtime.close)  # stop the child server and flush the stores on exit
        return runtime

    # --- namespaces
    @property
    def default(self) -> Services:
        return self._spaces[DEFAULT]

    def namespace(self, name: str) -> Services:
        """A namespace's services, opened (its graph and collection created if new) on first use."""
        with self._lock:
            space = self._spaces.get(name)
            if space is not None:
                return space
            if self._closed:
                raise RuntimeError("the runtime is closed")
            if not valid_name(name):
                raise ValueError(f"not a namespace name: {name!r}")
            space = Services.open_namespace(self.shared, name, self.scheduler)
            self._spaces[name] = space
            started = self._started
        log.info("namespace opened", extra={"event": "namespace.opened", "namespace": name})
        if started:
            space.start()
        return space

    def exists(self, name: str) -> bool:
        """Whether the namespace has been created (by its first write, or by a restore)."""
        return name in self._spaces or name in self.names()

    def names(self) -> list[str]:
        """Every namespace on the graph server (its graph exists), `default` first."""
        found = {namespace_of_graph(self.settings, graph) for graph in self.default.graph.graph_names()}
        found.discard(None)
        found.add(DEFAULT)
        return sorted((n for n in found if n), key=lambda n: (n != DEFAULT, n))

    def memory_count(self, name: str) -> int:
        """How many memories a namespace holds, without opening it (no workers start for a count)."""
        with self._lock:
            space = self._spaces.get(name)
        if space is not None:
            return space.graph.memories.count()
        graph = self.shared.open_graph(graph_name(self.settings, name))
        try:
            return graph.memories.count()
        finally:
            graph.close()

    def open_namespaces(self) -> list[Services]:
        with self._lock:
            return list(self._spaces.values())

    def drop(self, name: str) -> dict[str, Any]:
        """Delete a namespace: its graph (memories, edges, entities, keys) and its vector collection."""
        if name == DEFAULT:
            raise ValueError("the default namespace cannot be dropped")
        if not self.exists(name):
            raise NotFound(f"No namespace {name!r}")
        space = self.namespace(name)
        count = space.graph.memories.count()
        with self._lock:
            self._spaces.pop(name, None)
        space.close_namespace()
        queue_keys = [
            key for queue in (space.embedding_queue, space.enrichment_queue) for key in getattr(queue, "keys", [])
        ]
        if queue_keys:  # a shared queue's streams and sets live beside the graph on the same server
            self.default.graph.redis.delete(*queue_keys)
        graph = self.shared.open_graph(graph_name(self.settings, name))
        try:
            graph.delete_graph()
        finally:
            graph.close()
        drop_collection(self.settings, collection_name(self.settings, name))
        log.info("namespace dropped", extra={"event": "namespace.dropped", "namespace": name, "memories": count})
        return {"namespace": name, "memories": count}

    # --- lifecycle
    def start(self) -> None:
        """Open every existing namespace, re-queue their unfinished work, start their threads and the scheduler."""
        with self._lock:
            if self._started:
                return
            self._started = True
        for name in self.names():
            self.namespace(name).start()
        if self.settings.run_scheduler:
            self.scheduler.start()
        if self.settings.shared_queues and self.settings.run_workers:
            # another process of the fleet may create a namespace: its work must find this process's workers
            self._watcher = threading.Thread(target=self._watch_namespaces, name="loci-namespaces", daemon=True)
            self._watcher.start()

    def _watch_namespaces(self) -> None:
        while not self._stopping.wait(NAMESPACE_WATCH_SECONDS):
            try:
                for name in self.names():
                    self.namespace(name)
            except Exception:  # an outage: the next look tries again
                log.warning("namespace watch failed", extra={"event": "namespace.watch_failed"}, exc_info=True)

    def close(self) -> None:
        """Stop every namespace's threads and the scheduler, then release the stores and the data directory."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            spaces = list(self._spaces.values())
        atexit.unregister(self.close)
        self._stopping.set()
        if self._watcher:
            self._watcher.join(timeout=10)
        self.scheduler.shutdown()
        for space in spaces:
            space.close_namespace()
        self.shared.background.shutdown(wait=True, cancel_futures=True)
        if self.shared.falkordb_server:
            self.shared.falkordb_server.stop()
        if self._data_lock:
            self._data_lock.close()
            self._data_lock = None


class EveryNamespace:
    """What the scheduler runs: each task over every namespace in turn, each in its own graph.

    It offers the scheduler the two things it asks of a Consolidator: the record of past runs
    (the `default` namespace's, which every scheduled run includes) and `run_task`.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @property
    def graph(self) -> GraphStore:
        return self._runtime.default.graph

    def run_task(self, task: str, *, dry_run: bool, scheduled: bool = False) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for name in self._runtime.names():
            results[name] = self._runtime.namespace(name).consolidator.run_task(
                task, dry_run=dry_run, scheduled=scheduled
            )
        return results
