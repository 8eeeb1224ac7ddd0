"""Embedding providers: the real local model, the openai client against a local OpenAI-compatible server."""

from __future__ import annotations

import numpy as np
import pytest

from loci.embedding.local import LocalProvider
from loci.embedding.openai_provider import OpenAIProvider
from loci.embedding.placeholder import PlaceholderProvider
from loci.errors import ConfigError, EmbeddingError
from tests.openai_server import OpenAIServer


def cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_local_model_embeds_by_meaning() -> None:
    provider = LocalProvider()
    assert (provider.name, provider.model, provider.dimension) == ("local", "all-MiniLM-L6-v2", 384)
    query, near, far = provider.embed(
        ["Which database does the team use?", "We store everything in PostgreSQL.", "My cat sleeps all day."]
    )
    assert len(query) == 384
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-4)
    assert cos(query, near) > cos(query, far) + 0.1
    assert provider.embed([]) == []


def test_local_model_refuses_another_dimension() -> None:
    with pytest.raises(ConfigError, match="384"):
        LocalProvider(dimension=1024)


def test_local_model_never_downloads() -> None:
    with pytest.raises(ConfigError, match="never downloads"):
        LocalProvider(model="BAAI/bge-small-en-v1.5")


def openai_provider(server: OpenAIServer, dimension: int = 384, model: str = "stub-embedder") -> OpenAIProvider:
    return OpenAIProvider(model=model, dimension=dimension, api_key=None, base_url=server.base_url, timeout=5)


def test_openai_provider_one_request_per_batch(openai_server: OpenAIServer) -> None:
    provider = openai_provider(openai_server)
    vectors = provider.embed(["alpha beta", "beta gamma", "delta"])
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert len(openai_server.stub.requests) == 1
    assert openai_server.stub.requests[0]["input"] == ["alpha beta", "beta gamma", "delta"]
    # the client asks for base64 by default; decoding must give the server's vectors back in order
    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])


def test_openai_provider_sends_dimensions_when_resizing(openai_server: OpenAIServer) -> None:
    provider = openai_provider(openai_server, dimension=256, model="text-embedding-3-small")
    assert [len(v) for v in provider.embed(["x"])] == [256]
    assert openai_server.stub.requests[0]["dimensions"] == 256


def test_openai_rate_limit_carries_retry_after(openai_server: OpenAIServer) -> None:
    openai_server.stub.fail_next(1, status=429, retry_after=7)
    with pytest.raises(EmbeddingError) as caught:
        openai_provider(openai_server).embed(["x"])
    assert caught.value.retry_after == 7
    assert openai_provider(openai_server).embed(["x"])  # next call goes through


@pytest.mark.parametrize("status", [400, 500, 503])
def test_openai_errors_become_embedding_errors(openai_server: OpenAIServer, status: int) -> None:
    openai_server.stub.fail_next(1, status=status)
    with pytest.raises(EmbeddingError, match=str(status)):
        openai_provider(openai_server).embed(["x"])


def test_openai_wrong_dimension_is_an_error_not_a_vector(openai_server: OpenAIServer) -> None:
    openai_server.stub.wrong_dimension = True
    with pytest.raises(EmbeddingError, match="385-d"):
        openai_provider(openai_server).embed(["x"])


def test_openai_unreachable_is_an_embedding_error() -> None:
    provider = OpenAIProvider(model="m", dimension=8, api_key="k", base_url="http://127.0.0.1:9/v1", timeout=2)
    with pytest.raises(EmbeddingError):
        provider.embed(["x"])


def test_placeholder_is_deterministic_and_unit_length() -> None:
    provider = PlaceholderProvider(16)
    first, again = provider.embed(["same"]), provider.embed(["same"])
    assert first == again and len(first[0]) == 16
    assert np.linalg.norm(first[0]) == pytest.approx(1.0)
