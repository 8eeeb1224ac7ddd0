"""The content soft limit (MEMORY_CONTENT_SOFT_LIMIT, AutoMem's §3.1): long memories are stored as a
summary with the original in metadata; the LLM's summary replaces the first-sentences one afterwards,
in the enrichment worker, and a failing or slow model leaves the first-sentences summary in place.

In-process tests use the Flask test client on the session FalkorDB and drive the workers with
`settle`; the last test runs the service under gunicorn with a model slower than the client waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from service_process import ServiceProcess

from loci.config import Settings, unsupported_variables
from loci.enrichment.summarize import first_sentences
from loci.model import Memory, StageStatus, content_hash
from loci.services import Services
from tests.helpers import settle, store_body, wait_until
from tests.openai_server import OpenAIServer

SOFT, HARD = 500, 2000  # AutoMem's defaults, Loci's too
LLM_SUMMARY = "We decided to move billing to PostgreSQL; the migration of all 15 services ends on Friday."


def long_note(length: int) -> str:
    """Sentences about one decision, cut to exactly `length` characters."""
    sentences = [f"We decided to migrate billing service {n} to PostgreSQL after the outage." for n in range(40)]
    text = " ".join(sentences)[:length]
    assert len(text) == length
    return text[:-1] + "." if text.endswith(" ") else text


def graph_memory(svc: Services, memory_id: str) -> Memory:
    found = svc.graph.memories.get(memory_id)
    assert found is not None
    return found


def post(app: Flask, content: str) -> dict[str, Any]:
    return store_body(app, content, tags=["billing"])


def test_over_the_soft_limit_is_a_summary_with_the_original_in_metadata(app: Flask, services: Services) -> None:
    original = long_note(900)
    body = post(app, original)
    assert body["summarized"] is True
    assert body["original_length"] == 900
    stored = graph_memory(services, body["memory_id"])
    assert body["summarized_length"] == len(stored.content) <= SOFT
    # whole sentences: a prefix of the original ending where a sentence ends
    assert original.startswith(stored.content) and stored.content.endswith("outage.")
    assert len(stored.content) > SOFT // 2
    expected = {
        "original_content": original,
        "was_summarized": True,
        "original_length": 900,
        "summary_method": "first_sentences",
    }
    assert expected.items() <= stored.metadata.items()
    assert expected.items() <= body["metadata"].items()
    assert stored.tags == ["billing"]


@pytest.mark.parametrize(("length", "summarized"), [(SOFT - 1, False), (SOFT, False), (SOFT + 1, True)])
def test_the_soft_limit_at_its_edges(app: Flask, services: Services, length: int, summarized: bool) -> None:
    content = long_note(length)
    body = post(app, content)
    stored = graph_memory(services, body["memory_id"])
    assert body["summarized"] is summarized
    if summarized:
        assert len(stored.content) <= SOFT and stored.metadata["original_content"] == content
    else:
        assert stored.content == content and "original_content" not in stored.metadata
        assert "original_length" not in body and "summarized_length" not in body


def test_the_hard_limit_is_summarized_and_one_more_is_refused(app: Flask, services: Services) -> None:
    at_limit = post(app, long_note(HARD))
    assert at_limit["summarized"] is True and at_limit["original_length"] == HARD
    assert at_limit["summarized_length"] <= SOFT
    over = app.test_client().post("/memory", json={"content": long_note(HARD) + "x"})
    assert over.status_code == 400
    assert over.json["message"] == (
        f"Invalid 'content': is {HARD + 1} characters; the limit is {HARD} (MEMORY_CONTENT_HARD_LIMIT)"
    )


def test_one_long_sentence_is_cut_between_words(app: Flask, services: Services) -> None:
    original = " ".join(f"word{n}" for n in range(150))  # 1,040 characters and no full stop
    body = post(app, original)
    stored = graph_memory(services, body["memory_id"]).content
    assert body["summarized"] is True and len(stored) <= SOFT and stored.endswith("…")
    kept = stored.removesuffix("…")
    assert original.startswith(kept) and original[len(kept)] == " "  # never inside a word


def test_batch_items_are_summarized_and_keep_their_originals(app: Flask, services: Services) -> None:
    short, long = "A short note about billing.", long_note(700)
    response = app.test_client().post("/memory/batch", json={"memories": [{"content": short}, {"content": long}]})
    assert response.status_code == 201
    body = response.json
    assert body["summarized"] == [1]
    first, second = (graph_memory(services, i) for i in body["memory_ids"])
    assert first.content == short and "original_content" not in first.metadata
    assert len(second.content) <= SOFT and original_prefix(second.content, long)
    assert second.metadata["original_content"] == long and second.metadata["was_summarized"] is True
    assert second.metadata["original_length"] == 700


def original_prefix(summary: str, original: str) -> bool:
    return original.startswith(summary.removesuffix("…"))


def test_a_repeat_of_a_long_memory_answers_like_the_first(app: Flask, services: Services) -> None:
    original = long_note(800)
    first = post(app, original)
    repeat = app.test_client().post("/memory", json={"content": original, "tags": ["billing"]})
    assert repeat.status_code == 200 and repeat.json["deduplicated"] is True
    assert repeat.json["memory_id"] == first["memory_id"]
    assert (repeat.json["summarized"], repeat.json["original_length"]) == (True, 800)
    assert repeat.json["summarized_length"] == first["summarized_length"]


def test_auto_summarize_off_stores_long_content_as_sent(make_app: Callable[..., Flask]) -> None:
    app = make_app(memory_auto_summarize=False)
    original = long_note(900)
    body = post(app, original)
    assert body["summarized"] is False
    svc: Services = app.extensions["loci"]
    assert graph_memory(svc, body["memory_id"]).content == original


def test_a_lower_soft_limit_applies(make_app: Callable[..., Flask]) -> None:
    app = make_app(memory_content_soft_limit=100)
    body = post(app, long_note(300))
    assert body["summarized"] is True and body["summarized_length"] <= 100


def test_the_settings_come_from_automems_variables() -> None:
    environ = {
        "MEMORY_CONTENT_SOFT_LIMIT": "120",
        "MEMORY_AUTO_SUMMARIZE": "false",
        "MEMORY_SUMMARY_TARGET_LENGTH": "80",
        "MEMORY_SUMMARY_TIMEOUT_SECONDS": "1.5",
    }
    settings = Settings.from_env(environ)
    assert (settings.memory_content_soft_limit, settings.memory_auto_summarize) == (120, False)
    assert (settings.memory_summary_target_length, settings.memory_summary_timeout_seconds) == (80, 1.5)
    assert unsupported_variables(environ) == []  # acted on now, so start-up no longer warns about them


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("One. Two two. Three three three.", 14, "One. Two two."),
        ('He said "stop." Then left. And more words follow here.', 27, 'He said "stop." Then left.'),
        ("First line\nsecond line\nthird line", 24, "First line\nsecond line"),
        ("Hi. " + "lorem ipsum " * 10, 40, "Hi. lorem ipsum lorem ipsum lorem ipsum…"),  # one short sentence: cut words
        ("x" * 30, 10, "x" * 9 + "…"),  # a single word longer than the limit: the only cut inside a word
        ("short", 10, "short"),
    ],
)
def test_first_sentences(text: str, limit: int, expected: str) -> None:
    assert first_sentences(text, limit) == expected
    assert len(expected) <= limit


@pytest.fixture
def llm_app(make_app: Callable[..., Flask], openai_server: OpenAIServer) -> Flask:
    openai_server.stub.chat_reply = LLM_SUMMARY
    return make_app(
        classification_base_url=openai_server.base_url,
        classification_model="stub-chat",
        memory_summary_timeout_seconds=0.5,
    )


def chats(server: OpenAIServer) -> list[dict[str, Any]]:
    return [r for r in server.stub.requests if "messages" in r]


def test_the_llm_summary_replaces_the_first_sentences_one(llm_app: Flask, openai_server: OpenAIServer) -> None:
    svc: Services = llm_app.extensions["loci"]
    original = long_note(1200)
    body = post(llm_app, original)
    assert body["summarized"] is True  # at once, with the first sentences: the request asked no model
    settle(svc)
    stored = graph_memory(svc, body["memory_id"])
    assert stored.content == LLM_SUMMARY
    assert stored.metadata["summary_method"] == "llm"
    assert stored.metadata["original_content"] == original and stored.metadata["original_length"] == 1200
    assert stored.summary == LLM_SUMMARY  # the first-sentence summary follows the new content
    (ask,) = chats(openai_server)  # the type came from the regex table: one chat, the summary's
    assert ask["model"] == "stub-chat" and ask["messages"][1]["content"] == original
    # the vector was made again from the new content
    assert stored.embedding_status is StageStatus.COMPLETED and stored.embedded_hash == content_hash(LLM_SUMMARY)
    (point,) = svc.vectors.retrieve([stored.id])
    assert point.payload["content"] == LLM_SUMMARY
    assert svc.enrichment_worker.summarizer is not None
    assert svc.enrichment_worker.summarizer.stats.llm_successes == 1


def test_an_llm_answer_over_the_limit_is_cut_to_it(llm_app: Flask, openai_server: OpenAIServer) -> None:
    svc: Services = llm_app.extensions["loci"]
    openai_server.stub.chat_reply = "A rambling model. " * 40
    body = post(llm_app, long_note(1000))
    settle(svc)
    stored = graph_memory(svc, body["memory_id"])
    assert stored.metadata["summary_method"] == "llm"
    assert stored.content.startswith("A rambling model.") and len(stored.content) <= SOFT


@pytest.mark.parametrize("fault", ["error", "slow", "empty"])
def test_a_failing_or_slow_llm_leaves_the_first_sentences_summary(
    llm_app: Flask, openai_server: OpenAIServer, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    svc: Services = llm_app.extensions["loci"]
    if fault == "error":
        openai_server.stub.fail_next(1, status=500)
    elif fault == "slow":
        openai_server.stub.chat_latency = 10.0  # far past MEMORY_SUMMARY_TIMEOUT_SECONDS (0.5 here)
    else:
        openai_server.stub.chat_reply = "   "
    original = long_note(900)
    body = post(llm_app, original)
    first_sentences = graph_memory(svc, body["memory_id"]).content
    with caplog.at_level(logging.WARNING, logger="loci.enrichment.summarize"):
        settle(svc)
    stored = graph_memory(svc, body["memory_id"])
    assert stored.enrichment_status is StageStatus.COMPLETED
    assert stored.content == first_sentences and original.startswith(stored.content)
    assert stored.metadata["summary_method"] == "first_sentences"
    assert stored.metadata["original_content"] == original
    assert len(chats(openai_server)) == 1  # the model was asked
    fallbacks = [r for r in caplog.records if getattr(r, "event", None) == "summary.fallback"]
    assert [getattr(r, "memory_id", None) for r in fallbacks] == [body["memory_id"]]
    assert svc.enrichment_worker.summarizer is not None
    assert svc.enrichment_worker.summarizer.stats.fallbacks == 1


def test_an_edit_before_enrichment_is_not_overwritten(llm_app: Flask, openai_server: OpenAIServer) -> None:
    svc: Services = llm_app.extensions["loci"]
    body = post(llm_app, long_note(900))
    patched = llm_app.test_client().patch(f"/memory/{body['memory_id']}", json={"content": "We decided: Postgres."})
    assert patched.status_code == 200
    settle(svc)
    stored = graph_memory(svc, body["memory_id"])
    assert stored.content == "We decided: Postgres."
    assert stored.metadata["summary_method"] == "first_sentences"  # the store's record stays, not the LLM's
    assert not chats(openai_server)


@pytest.mark.slow
def test_under_gunicorn_a_slow_model_never_holds_up_a_store(tmp_path: Path) -> None:
    with OpenAIServer() as model:
        model.stub.chat_latency = 60.0  # longer than the client below waits for any answer
        env = {
            "EMBEDDING_PROVIDER": "openai",
            "OPENAI_BASE_URL": model.base_url,
            "EMBEDDING_MODEL": "stub-embedder",
            "VECTOR_SIZE": "384",
            "MEMORY_SUMMARY_TIMEOUT_SECONDS": "0.5",
        }
        original = long_note(1500)
        with (
            ServiceProcess(tmp_path / "data", tmp_path / "service.log", env) as service,
            httpx.Client(base_url=service.base_url, timeout=10) as client,
        ):
            response = client.post("/memory", json={"content": original})
            assert response.status_code == 201
            body = response.json()
            assert body["summarized"] is True and body["original_length"] == 1500
            assert body["summarized_length"] <= SOFT

            def enriched() -> dict[str, Any] | None:
                memory: dict[str, Any] = client.get(f"/memory/{body['memory_id']}").json()["memory"]
                return memory if memory["enrichment_status"] == "completed" else None

            wait_until(enriched, 60, what="the enrichment")
            memory = enriched()
            assert memory is not None
            assert original.startswith(memory["content"]) and len(memory["content"]) == body["summarized_length"]
            assert memory["metadata"]["summary_method"] == "first_sentences"
            assert any("messages" in r for r in model.stub.requests)  # the model was asked, and not waited for
