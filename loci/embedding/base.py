"""The embedding provider interface.

A provider turns texts into vectors, one call per batch. It raises `EmbeddingError`
when it cannot; it never returns a made-up vector in place of a real one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from loci.errors import EmbeddingError


@runtime_checkable
class EmbeddingProvider(Protocol):
    name: str
    """"local", "openai" or "placeholder"."""
    model: str
    dimension: int
    runtime: str
    """What computes the vectors: "onnx" or "torch" (local), "http" (openai), "hash" (placeholder)."""
    remote: bool
    """True when calls leave the process: several can usefully be in flight at once."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; raises EmbeddingError."""
        ...


def check_vectors(vectors: list[list[float]], expected: int, dimension: int, source: str) -> list[list[float]]:
    """Raise EmbeddingError unless there are `expected` vectors of `dimension` floats each."""
    if len(vectors) != expected:
        raise EmbeddingError(f"{source} returned {len(vectors)} vectors for {expected} texts", transient=False)
    for vector in vectors:
        if len(vector) != dimension:
            raise EmbeddingError(f"{source} returned a {len(vector)}-d vector; expected {dimension}", transient=False)
    return vectors
