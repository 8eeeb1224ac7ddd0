"""The openai provider: any OpenAI-compatible embeddings endpoint through the official client.

OPENAI_BASE_URL points it at a compatible server (a gateway, a local inference server);
OPENAI_API_KEY may then be omitted. The client's own retries are off: the embedding worker
retries with backoff outside the request, honouring a 429's Retry-After, so a slow or
failing provider never blocks the worker thread in a sleep.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import openai

from loci.embedding.base import check_vectors
from loci.errors import ConfigError, EmbeddingError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "text-embedding-3-small"
NATIVE_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
"""Output sizes of well-known models, used when VECTOR_SIZE is not given."""
RESIZABLE = {"text-embedding-3-small", "text-embedding-3-large"}
"""Models that accept the `dimensions` parameter."""


def default_dimension(model: str | None) -> int | None:
    return NATIVE_DIMENSIONS.get(model or DEFAULT_MODEL)


class OpenAIProvider:
    name = "openai"
    remote = True
    runtime = "http"

    def __init__(
        self,
        *,
        model: str | None,
        dimension: int,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
    ) -> None:
        self.model = model or DEFAULT_MODEL
        self.dimension = dimension
        native = NATIVE_DIMENSIONS.get(self.model)
        if native is not None and native != dimension and self.model not in RESIZABLE:
            raise ConfigError(f"EMBEDDING_MODEL={self.model} produces {native}-d vectors, not {dimension}")
        self._send_dimensions = native != dimension and (self.model in RESIZABLE or native is None)
        self._client = openai.OpenAI(api_key=api_key or "not-needed", base_url=base_url, timeout=timeout, max_retries=0)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        kwargs: dict[str, Any] = {"model": self.model, "input": list(texts)}
        if self._send_dimensions:
            kwargs["dimensions"] = self.dimension
        try:
            response = self._client.embeddings.create(**kwargs)
        except openai.RateLimitError as exc:
            raise EmbeddingError(f"rate limited: {exc}", retry_after=_retry_after(exc.response)) from exc
        except openai.APIStatusError as exc:
            raise EmbeddingError(
                f"HTTP {exc.status_code} from embeddings endpoint: {exc.message}",
                retry_after=_retry_after(exc.response),
                transient=exc.status_code >= 500 or exc.status_code in (408, 409),
            ) from exc
        except openai.APIError as exc:  # connection errors, timeouts, bad bodies
            raise EmbeddingError(f"embeddings endpoint failed: {exc}") from exc
        except (ValueError, TypeError) as exc:  # the client could not read the answer
            raise EmbeddingError(f"malformed embeddings response: {exc}", transient=False) from exc
        try:
            ordered = sorted(response.data, key=lambda item: item.index)
            vectors = [list(item.embedding) for item in ordered]
        except (TypeError, AttributeError, ValueError) as exc:
            raise EmbeddingError(f"malformed embeddings response: {exc}", transient=False) from exc
        return check_vectors(vectors, len(texts), self.dimension, self.model)


def _retry_after(response: Any) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form), if present and sane."""
    value = response.headers.get("retry-after") if response is not None else None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= 3600 else None
