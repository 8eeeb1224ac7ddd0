"""The embedding worker: batching, retries with backoff, failure marking, restart recovery, edits."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from flask import Flask

from loci.model import StageStatus
from loci.services import Services
from tests.helpers import PAST_ANY_RETRY, FakeClock, store, wait_until
from tests.openai_server import OpenAIServer


@pytest.fixture
def stub_app(make_stub_app: Callable[..., Flask], clock: FakeClock) -> Flask:
    """An app whose provider is the local OpenAI-compatible server (so faults can be scripted),
    its queues on a fake clock (so a retry delay passes when the test advances it)."""
    return make_stub_app(clock=clock)


def status(svc: Services, memory_id: str) -> StageStatus:
    memory = svc.graph.memories.get(memory_id)
    assert memory is not None
    return memory.embedding_status


def run_until_done(svc: Services, memory_id: str, clock: FakeClock, passes: int = 10) -> None:
    """Work the embedding queue, moving the clock past each retry delay, until the memory is no longer pending."""
    for _ in range(passes):
        svc.embedding_worker.drain()
        if status(svc, memory_id) is not StageStatus.PENDING:
            return
        clock.advance(PAST_ANY_RETRY)
    raise AssertionError(f"{memory_id} still pending after {passes} passes")


def test_one_provider_call_and_one_upsert_per_batch(stub_app: Flask, openai_server: OpenAIServer) -> None:
    svc: Services = stub_app.extensions["loci"]
    ids = [store(stub_app, f"memory number {n}") for n in range(12)]
    assert all(status(svc, i) is StageStatus.PENDING for i in ids)
    svc.embedding_worker.drain()
    assert len(openai_server.stub.requests) == 1
    assert len(openai_server.stub.requests[0]["input"]) == 12
    assert all(status(svc, i) is StageStatus.COMPLETED for i in ids)
    assert svc.vectors.count() == 12
    assert svc.embedding_worker.stats.processed == 12


def test_a_failed_call_is_retried_later_not_slept_on(
    stub_app: Flask, openai_server: OpenAIServer, clock: FakeClock
) -> None:
    svc: Services = stub_app.extensions["loci"]
    memory_id = store(stub_app, "retry me")
    openai_server.stub.fail_next(1, status=503)
    svc.embedding_worker.run_once()
    memory = svc.graph.memories.get(memory_id)
    assert memory is not None
    assert memory.embedding_status is StageStatus.PENDING
    assert memory.embedding_attempts == 1 and "503" in (memory.embedding_error or "")
    assert svc.embedding_queue.stats().delayed == 1
    assert svc.vectors.count() == 0
    svc.embedding_worker.drain()
    assert status(svc, memory_id) is StageStatus.PENDING  # not yet: the retry waits for its time
    clock.advance(0.06)  # the retry delay (base 0.01 s, max 0.05 s) has passed
    svc.embedding_worker.drain()
    assert status(svc, memory_id) is StageStatus.COMPLETED
    assert svc.vectors.count() == 1


def test_after_max_attempts_the_memory_is_marked_failed_with_the_reason(
    stub_app: Flask, openai_server: OpenAIServer, clock: FakeClock
) -> None:
    svc: Services = stub_app.extensions["loci"]
    memory_id = store(stub_app, "doomed")
    openai_server.stub.fail_next(3, status=500)
    run_until_done(svc, memory_id, clock)
    memory = svc.graph.memories.get(memory_id)
    assert memory is not None
    assert memory.embedding_status is StageStatus.FAILED
    assert memory.embedding_attempts == 3
    assert "500" in (memory.embedding_error or "")
    assert svc.vectors.count() == 0  # no fake vector in place of a real one
    assert svc.embedding_worker.stats.failed == 1
    assert svc.embedding_queue.is_idle(include_delayed=True)


def test_retry_after_from_a_429_is_honoured(stub_app: Flask, openai_server: OpenAIServer, clock: FakeClock) -> None:
    svc: Services = stub_app.extensions["loci"]
    memory_id = store(stub_app, "rate limited")
    openai_server.stub.fail_next(1, status=429, retry_after=0.4)
    svc.embedding_worker.run_once()
    svc.embedding_worker.drain()
    assert status(svc, memory_id) is StageStatus.PENDING  # still waiting out Retry-After
    clock.advance(0.3)  # past the backoff (at most 0.05 s), not yet past Retry-After
    svc.embedding_worker.drain()
    assert status(svc, memory_id) is StageStatus.PENDING
    clock.advance(0.15)
    svc.embedding_worker.drain()
    assert status(svc, memory_id) is StageStatus.COMPLETED


def test_pending_work_survives_a_restart(make_app: Callable[..., Flask]) -> None:
    first = make_app()
    ids = [store(first, f"before the restart {n}") for n in range(3)]
    first_svc: Services = first.extensions["loci"]
    first_svc.close()  # the process goes away with three memories still waiting
    second = make_app()
    svc: Services = second.extensions["loci"]
    assert svc.embedding_worker.requeue_pending() == 3
    svc.embedding_worker.drain()
    assert all(status(svc, i) is StageStatus.COMPLETED for i in ids)
    assert svc.vectors.count() == 3


def test_content_edited_while_in_flight_is_embedded_again(stub_app: Flask) -> None:
    svc: Services = stub_app.extensions["loci"]
    memory_id = store(stub_app, "the first version")
    items = svc.embedding_queue.take(10)
    response = stub_app.test_client().patch(f"/memory/{memory_id}", json={"content": "the second version"})
    assert response.status_code == 200
    svc.embedding_worker.process(items)  # embeds the memory as it now reads; the edit re-queued it too
    svc.embedding_queue.done(i.memory_id for i in items)
    svc.embedding_worker.drain()
    (point,) = svc.vectors.retrieve([memory_id])
    assert point.payload["content"] == "the second version"
    assert status(svc, memory_id) is StageStatus.COMPLETED


def test_a_metadata_edit_rewrites_the_payload_without_calling_the_model(
    stub_app: Flask, openai_server: OpenAIServer
) -> None:
    svc: Services = stub_app.extensions["loci"]
    memory_id = store(stub_app, "tag me later", tags=["old"])
    svc.embedding_worker.drain()
    calls = len(openai_server.stub.requests)
    response = stub_app.test_client().patch(f"/memory/{memory_id}", json={"tags": ["new", "Project/X"]})
    assert response.status_code == 200
    svc.embedding_worker.drain()
    assert len(openai_server.stub.requests) == calls
    (point,) = svc.vectors.retrieve([memory_id])
    assert point.payload["tags"] == ["new", "Project/X"]
    assert point.payload["tag_prefixes"] == ["new", "project", "project:x"]


def test_a_deleted_memory_in_the_queue_is_skipped(stub_app: Flask, openai_server: OpenAIServer) -> None:
    svc: Services = stub_app.extensions["loci"]
    memory_id = store(stub_app, "short lived")
    assert stub_app.test_client().delete(f"/memory/{memory_id}").status_code == 200
    svc.embedding_worker.drain()
    assert openai_server.stub.requests == []
    assert svc.vectors.count() == 0


def test_a_memory_deleted_while_its_vector_is_computed_leaves_no_vector(
    stub_app: Flask, openai_server: OpenAIServer
) -> None:
    svc: Services = stub_app.extensions["loci"]
    memory_id = store(stub_app, "deleted mid-flight")
    openai_server.stub.latency = 0.3
    worker = threading.Thread(target=svc.embedding_worker.run_once)
    worker.start()
    wait_until(lambda: bool(openai_server.stub.requests), 5.0, what="the model call")  # under way
    assert stub_app.test_client().delete(f"/memory/{memory_id}").status_code == 200
    worker.join()
    assert svc.vectors.count() == 0


def test_a_malformed_provider_answer_is_retried_not_dropped(
    stub_app: Flask, openai_server: OpenAIServer, clock: FakeClock
) -> None:
    svc: Services = stub_app.extensions["loci"]
    memory_id = store(stub_app, "odd gateway")
    openai_server.stub.malformed = True
    svc.embedding_worker.run_once()
    memory = svc.graph.memories.get(memory_id)
    assert memory is not None and memory.embedding_attempts == 1 and "malformed" in (memory.embedding_error or "")
    assert svc.embedding_queue.stats().delayed == 1
    openai_server.stub.malformed = False
    clock.advance(0.06)  # past the retry delay (at most 0.05 s)
    svc.embedding_worker.drain()
    assert status(svc, memory_id) is StageStatus.COMPLETED


def test_one_bad_memory_does_not_use_up_the_attempts_of_its_batch(
    stub_app: Flask, openai_server: OpenAIServer, clock: FakeClock
) -> None:
    svc: Services = stub_app.extensions["loci"]
    good = [store(stub_app, f"fine text {n}") for n in range(3)]
    bad = store(stub_app, "poison pill")
    openai_server.stub.reject_text = "poison"
    run_until_done(svc, bad, clock)
    svc.embedding_worker.drain()
    assert all(status(svc, i) is StageStatus.COMPLETED for i in good)
    bad_memory = svc.graph.memories.get(bad)
    assert bad_memory is not None and bad_memory.embedding_status is StageStatus.FAILED
    assert bad_memory.embedding_attempts == 3 and "400" in (bad_memory.embedding_error or "")
    assert all(svc.graph.memories.get(i).embedding_attempts == 0 for i in good)  # type: ignore[union-attr]
