"""The local model on ONNX Runtime: same vectors as torch, a cached graph, falling back to torch."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from bench_api import memory_text
from flask import Flask

from loci.config import LocalRuntime
from loci.embedding.local import LocalProvider, model_path

BATCH = 64
"""EMBEDDING_BATCH_SIZE's default: the worker embeds in batches of this size."""


def varied_texts() -> list[str]:
    """240 texts: generated memories, long, short, unicode, empty-ish, code and numbers."""
    rng = random.Random(16)
    texts = [memory_text(rng) for _ in range(120)]
    words = ["the", "team", "moved", "billing", "service", "to", "PostgreSQL", "after", "outage", "in", "May"]
    texts += [" ".join(rng.choice(words) for _ in range(rng.randint(200, 600))) for _ in range(20)]  # past 256 tokens
    texts += ["ok", "a", "?", "Yes.", "no", "hi!", "k", "PostgreSQL", "42", "TODO"]
    texts += [
        "Café crème brûlée à Paris, très délicieux",
        "日本語のテキストも埋め込めるはずです",
        "Привет, как дела? Встреча в пятницу.",
        "مرحبا بالعالم، هذا اختبار",
        "🎉🚀 launch day!!! 🥳",
        "naïve façade résumé coöperate",
        "Ελληνικά γράμματα και αριθμοί 123",
        "한국어 문장도 있습니다",
        "emoji only: 😀😃😄😁",
        "Zürich → München ⇒ Wien",
    ]
    texts += ["", " ", "\n", "\t \n", "...", "—", "   spaced   out   ", "\u200b", "!!!", "-"]
    texts += [
        "def embed(texts):\n    return model.encode(texts, normalize_embeddings=True)",
        "SELECT id FROM memories WHERE importance > 0.5 ORDER BY created_at DESC LIMIT 10;",
        '{"tags": ["project", "db"], "importance": 0.9}',
        "https://127.0.0.1:8001/recall?query=which+database&limit=5",
        "2024-05-08T13:56:00Z meeting moved to 3pm",
    ]
    texts += [f"Melanie: I painted a {c} sunset at the lake on day {n}." for n, c in enumerate(["red", "blue"] * 25)]
    texts += [t.upper() for t in texts[:25]]
    return texts


def cosines(a: list[list[float]], b: list[list[float]]) -> np.ndarray:
    x, y = np.array(a), np.array(b)
    return np.asarray((x * y).sum(axis=1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)))


def embed_in_batches(provider: LocalProvider, texts: list[str]) -> list[list[float]]:
    return [v for i in range(0, len(texts), BATCH) for v in provider.embed(texts[i : i + BATCH])]


@pytest.fixture(scope="module")
def torch_provider() -> LocalProvider:
    return LocalProvider(runtime=LocalRuntime.TORCH)


@pytest.fixture(scope="module")
def onnx_provider(model_cache: Path) -> LocalProvider:
    provider = LocalProvider(runtime=LocalRuntime.ONNX, cache_dir=model_cache)
    assert provider.runtime == "onnx"
    return provider


def cached_graphs(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.onnx"))


def test_onnx_vectors_match_torch(torch_provider: LocalProvider, onnx_provider: LocalProvider) -> None:
    texts = varied_texts()
    assert len(texts) >= 200
    agreement = cosines(embed_in_batches(torch_provider, texts), embed_in_batches(onnx_provider, texts))
    worst = int(agreement.argmin())
    assert agreement.min() >= 0.999, f"cosine {agreement.min():.5f} for {texts[worst]!r}"
    identity = [(p.name, p.model, p.dimension) for p in (torch_provider, onnx_provider)]
    assert identity == [("local", "all-MiniLM-L6-v2", 384)] * 2
    assert (torch_provider.runtime, onnx_provider.runtime) == ("torch", "onnx")


def test_onnx_batch_and_single_calls_agree(onnx_provider: LocalProvider) -> None:
    texts = varied_texts()[::6]  # short, long and unicode texts padded together in one batch
    alone = [onnx_provider.embed([text])[0] for text in texts]
    assert cosines(onnx_provider.embed(texts), alone).min() >= 0.9999
    assert np.linalg.norm(alone, axis=1) == pytest.approx(np.ones(len(texts)), abs=1e-4)


def test_graph_is_reused_then_exported_again_when_removed(tmp_path: Path) -> None:
    first = LocalProvider(runtime=LocalRuntime.ONNX, cache_dir=tmp_path)
    [graph] = cached_graphs(tmp_path)
    assert first.runtime == "onnx" and graph.name.startswith("all-MiniLM-L6-v2-")
    written = graph.stat().st_mtime_ns
    second = LocalProvider(runtime=LocalRuntime.ONNX, cache_dir=tmp_path)
    assert second.runtime == "onnx" and graph.stat().st_mtime_ns == written  # read, not written again
    graph.unlink()
    third = LocalProvider(runtime=LocalRuntime.ONNX, cache_dir=tmp_path)
    assert third.runtime == "onnx" and cached_graphs(tmp_path) == [graph]
    assert cosines(third.embed(["a memory"]), first.embed(["a memory"]))[0] >= 0.9999


def warnings_from_loci(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Loci's own warnings: not torch's or the exporter's, nor info lines another test's log set-up lets through."""
    return [r for r in caplog.records if r.name.startswith("loci.") and r.levelno >= logging.WARNING]


def test_corrupt_graph_is_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    LocalProvider(runtime=LocalRuntime.ONNX, cache_dir=tmp_path)
    [graph] = cached_graphs(tmp_path)
    graph.write_bytes(b"not an onnx graph" * 100)  # a disk error or a crash in another writer
    with caplog.at_level(logging.WARNING):
        provider = LocalProvider(runtime=LocalRuntime.ONNX, cache_dir=tmp_path)
    assert provider.runtime == "onnx"
    assert graph.stat().st_size > 1_000_000
    ours = [r.__dict__.get("event") for r in warnings_from_loci(caplog)]
    assert ours == ["embedding.onnx_cache_invalid"]
    assert np.linalg.norm(provider.embed(["still works"])[0]) == pytest.approx(1.0, abs=1e-4)


def test_unexportable_model_runs_on_torch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A layout the ONNX path does not reproduce (max pooling) is served by torch, said in one line."""
    shipped, model = model_path(None), tmp_path / "max-pooled"
    (model / "1_Pooling").mkdir(parents=True)
    for file in shipped.iterdir():
        if file.is_file():
            (model / file.name).symlink_to(file)
    pooling = json.loads((shipped / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_max_tokens=True)
    (model / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with caplog.at_level(logging.WARNING):
        provider = LocalProvider(str(model), 384, runtime=LocalRuntime.ONNX, cache_dir=tmp_path / "cache")
    assert provider.runtime == "torch"
    ours = warnings_from_loci(caplog)
    assert [r.__dict__.get("event") for r in ours] == ["embedding.onnx_fallback"]
    assert "pooling" in ours[0].__dict__["error"]
    assert len(provider.embed(["max pooled"])[0]) == 384


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_health_names_the_runtime(make_app: Callable[..., Flask], runtime: str) -> None:
    app = make_app(embedding_provider="local", local_embedding_runtime=runtime)
    embedding = app.test_client().get("/health").get_json()["embedding"]
    assert (embedding["provider"], embedding["model"], embedding["dimension"]) == ("local", "all-MiniLM-L6-v2", 384)
    assert embedding["runtime"] == runtime
