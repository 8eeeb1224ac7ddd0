"""The placeholder provider: deterministic pseudo-random vectors with no meaning.

Only ever used when EMBEDDING_PROVIDER=placeholder is chosen on purpose (for example to
run the API without loading a model). Loci never falls back to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

DEFAULT_DIMENSION = 384


class PlaceholderProvider:
    name = "placeholder"
    model = "sha256-seeded"
    remote = False
    runtime = "hash"

    def __init__(self, dimension: int | None = None) -> None:
        self.dimension = dimension or DEFAULT_DIMENSION

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]

    def _vector(self, text: str) -> list[float]:
        seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
        vector = np.random.default_rng(seed).standard_normal(self.dimension)
        return (vector / np.linalg.norm(vector)).tolist()
