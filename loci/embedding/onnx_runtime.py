"""The local model on ONNX Runtime: a graph exported once from the installed weights, cached on disk.

The transformer of a sentence-transformers model directory is exported with torch's ONNX
exporter into LOCI_DATA_DIR/models/<model>-<digest>.onnx, where the digest covers the weight
files, the model's config and `EXPORT_FORMAT`: new weights get a new file, and a missing or
unreadable file is exported again. Nothing is downloaded. Tokenising (the model's own
tokenizer.json), mean or CLS pooling and normalisation follow the model's sentence-transformers
configuration, so vectors match the torch path's (cosine >= 0.999, tests/test_onnx_embedding.py).
ONNX Runtime releases the interpreter lock while it computes, so request threads keep running.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from loci.errors import ConfigError

log = logging.getLogger(__name__)

EXPORT_FORMAT = 2
"""Version of the exported graph's shape (inputs, outputs, opset); part of the cache key."""
OPSET = 17
"""ONNX operator set of the export: supported by every onnxruntime of the last years."""
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "config.json")
"""The files whose bytes make the digest: the weights and the architecture they fill."""
DIGEST_LENGTH = 16
"""Hex digits of the digest in a cached graph's file name."""
_MODULE_TYPES = ("Transformer", "Pooling", "Normalize")


@dataclass(frozen=True)
class Layout:
    """What the model directory says about turning token vectors into one sentence vector."""

    max_length: int
    pooling: str
    """"mean" or "cls"."""
    lower_case: bool


def _read_json(path: Path) -> dict[str, Any]:
    value = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(value, dict):
        raise ConfigError(f"{path} is not a JSON object")
    return value


def read_layout(path: Path) -> Layout:
    """The pooling and tokenising settings of a Transformer -> Pooling (-> Normalize) model.

    Raises ConfigError for any other layout (a Dense layer, max pooling, no modules.json):
    the caller then keeps the torch path, which runs whatever sentence-transformers can load.
    """
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        raise ConfigError(f"{path} has no modules.json: not a sentence-transformers model directory")
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    kinds = [str(module.get("type", "")).rsplit(".", 1)[-1] for module in modules]
    if kinds not in (list(_MODULE_TYPES), list(_MODULE_TYPES[:2])):
        raise ConfigError(f"model layout {kinds} is not Transformer, Pooling[, Normalize]")
    pooling_config = _read_json(path / modules[1].get("path", "1_Pooling") / "config.json")
    modes = [name for name, on in pooling_config.items() if name.startswith("pooling_mode_") and on is True]
    if modes == ["pooling_mode_mean_tokens"]:
        pooling = "mean"
    elif modes == ["pooling_mode_cls_token"]:
        pooling = "cls"
    else:
        raise ConfigError(f"pooling {modes} is neither mean nor CLS")
    bert_file = path / "sentence_bert_config.json"
    bert = _read_json(bert_file) if bert_file.is_file() else {}
    config = _read_json(path / "config.json")
    limits = [bert.get("max_seq_length"), config.get("max_position_embeddings")]
    tokenizer_file = path / "tokenizer_config.json"
    if tokenizer_file.is_file():
        limits.append(_read_json(tokenizer_file).get("model_max_length"))
    max_length = min(int(limit) for limit in limits if isinstance(limit, int | float) and limit > 0)
    return Layout(max_length=max_length, pooling=pooling, lower_case=bool(bert.get("do_lower_case", False)))


def weights_digest(path: Path) -> str:
    """SHA-256 over the weight and config files' names and bytes, and the export format."""
    stamps = tuple((name, _stamp(path / name)) for name in WEIGHT_FILES)
    return _digest(path, stamps)


def _stamp(file: Path) -> tuple[int, int] | None:
    """(size, mtime_ns) of a file, None when it is missing: what a cached result is keyed by."""
    try:
        stat = file.stat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime_ns


@lru_cache(maxsize=8)
def _digest(path: Path, stamps: tuple[tuple[str, tuple[int, int] | None], ...]) -> str:
    """Hashed once per process while the files keep their size and time (tests build many apps)."""
    digest = hashlib.sha256(f"loci-onnx-{EXPORT_FORMAT}-opset{OPSET}".encode())
    found = False
    for name in WEIGHT_FILES:
        file = path / name
        if not file.is_file():
            continue
        found = True
        digest.update(name.encode())
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    if not found:
        raise ConfigError(f"{path} holds none of {WEIGHT_FILES}")
    return digest.hexdigest()


def graph_path(cache_dir: Path, model: str, path: Path) -> Path:
    """Where the graph of `model` (weights at `path`) is cached."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model.strip("/")).strip("_.") or "model"
    return cache_dir / f"{slug}-{weights_digest(path)[:DIGEST_LENGTH]}.onnx"


def export_graph(path: Path, target: Path) -> None:
    """Export the transformer at `path` to `target`, atomically: a complete, loadable file or none.

    The graph maps token ids, attention mask and token types to token vectors; pooling stays
    in numpy, where the model's configuration chooses it.
    """
    from loci.embedding.local import hub_offline

    hub_offline()
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(path), local_files_only=True, attn_implementation="eager").eval()

    class TokenVectors(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUT_NAMES, "token_vectors")}
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=".onnx.tmp")
    os.close(handle)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer notes about Python-level shape checks
            torch.onnx.export(
                TokenVectors(model),
                (sample, sample, torch.zeros_like(sample)),
                temporary,
                input_names=list(INPUT_NAMES),
                output_names=["token_vectors"],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
        _fuse(temporary, model.config)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would keep the graph from processes of other users
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    slug = target.stem[: -DIGEST_LENGTH - 1]
    for stale in target.parent.glob(f"{slug}-{'?' * DIGEST_LENGTH}.onnx"):
        if stale != target:  # an export of earlier weights of the same model
            stale.unlink(missing_ok=True)
    log.info("embedding model exported to ONNX", extra={"event": "embedding.onnx_exported", "path": str(target)})


def _fuse(graph: str, config: Any) -> None:
    """Rewrite the graph in place with ONNX Runtime's transformer fusions (attention, layer norms, GELU).

    The fused graph ran about twice as fast on this 2-core machine as the exporter's plain one.
    Only BERT-family encoders are fused; another architecture keeps the plain graph, which is
    correct, only slower.
    """
    if getattr(config, "model_type", None) != "bert":
        return
    from onnxruntime.transformers.optimizer import optimize_model

    fused = optimize_model(
        graph,
        model_type="bert",
        num_heads=int(config.num_attention_heads),
        hidden_size=int(config.hidden_size),
        opt_level=1,
    )
    fused.save_model_to_file(graph)


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class OnnxEncoder:
    """Tokenise, run the graph on the CPU, pool, normalise: one array of unit vectors per batch."""

    def __init__(self, graph: Path, path: Path, layout: Layout, threads: int = 0) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or available_cores()
        options.inter_op_num_threads = 1
        # idle pool threads sleep instead of spinning: the cores are shared with request threads and
        # spaCy, and on a busy 2-core machine spinning threads halved the model's own rate (docs/performance.md)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        self._session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self._inputs = [i.name for i in self._session.get_inputs() if i.name in INPUT_NAMES]
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.enable_truncation(layout.max_length)
        padding = self._tokenizer.padding or {}
        pad_token = str(padding.get("pad_token", "[PAD]"))
        pad_id = self._tokenizer.token_to_id(pad_token)
        self._tokenizer.enable_padding(pad_id=pad_id if pad_id is not None else 0, pad_token=pad_token)
        self.layout = layout
        self.dimension = int(self.encode(["dimension probe"]).shape[1])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.layout.lower_case:
            texts = [text.lower() for text in texts]
        encodings = self._tokenizer.encode_batch(list(texts))
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": mask,
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        tokens = self._session.run(None, {name: feeds[name] for name in self._inputs})[0]
        if self.layout.pooling == "cls":
            pooled = tokens[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.asarray(pooled / norms, dtype=np.float32)


def open_encoder(path: Path, cache_dir: Path, model: str, threads: int = 0) -> OnnxEncoder:
    """The cached graph of `model`, exported first when missing, stale or unreadable."""
    layout = read_layout(path)
    graph = graph_path(cache_dir, model, path)
    if graph.is_file():
        try:
            return _encoder(graph, _stamp(graph), path, layout, threads)
        except Exception as exc:  # a truncated or foreign file: export again
            log.warning(
                "cached ONNX graph unreadable; exporting it again",
                extra={"event": "embedding.onnx_cache_invalid", "path": str(graph), "error": str(exc)},
            )
            graph.unlink(missing_ok=True)
    export_graph(path, graph)
    return _encoder(graph, _stamp(graph), path, layout, threads)


@lru_cache(maxsize=4)
def _encoder(graph: Path, stamp: tuple[int, int] | None, path: Path, layout: Layout, threads: int) -> OnnxEncoder:
    """One session per graph file as it is on disk (a rewritten file has another stamp): tests build many apps."""
    return OnnxEncoder(graph, path, layout, threads)
