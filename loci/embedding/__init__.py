"""Embedding providers (local, openai, placeholder) and the choice between them."""

from __future__ import annotations

from loci.config import EmbeddingProviderName, Settings
from loci.embedding.base import EmbeddingProvider
from loci.errors import ConfigError

__all__ = ["EmbeddingProvider", "configured_dimension", "open_provider"]


def configured_dimension(settings: Settings) -> int:
    """VECTOR_SIZE if set, else the chosen model's own output size."""
    if settings.vector_size:
        return settings.vector_size
    if settings.embedding_provider is EmbeddingProviderName.OPENAI:
        from loci.embedding.openai_provider import default_dimension

        dimension = default_dimension(settings.embedding_model)
        if dimension is None:
            raise ConfigError(
                f"set VECTOR_SIZE: the output size of EMBEDDING_MODEL={settings.embedding_model} is unknown"
            )
        return dimension
    from loci.embedding.local import DEFAULT_DIMENSION

    return DEFAULT_DIMENSION


def open_provider(settings: Settings, dimension: int) -> EmbeddingProvider:
    """The provider EMBEDDING_PROVIDER names, producing `dimension`-d vectors."""
    if settings.embedding_provider is EmbeddingProviderName.OPENAI:
        from loci.embedding.openai_provider import OpenAIProvider

        return OpenAIProvider(
            model=settings.embedding_model,
            dimension=dimension,
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            timeout=settings.embedding_timeout_seconds,
        )
    if settings.embedding_provider is EmbeddingProviderName.PLACEHOLDER:
        from loci.embedding.placeholder import PlaceholderProvider

        return PlaceholderProvider(dimension)
    from loci.embedding.local import LocalProvider

    return LocalProvider(
        settings.embedding_model,
        dimension,
        runtime=settings.local_embedding_runtime,
        cache_dir=settings.local_embedding_cache_dir or settings.data_dir / "models",
        threads=settings.local_embedding_threads,
    )
