"""The local model on torch against ONNX Runtime: texts/s, vector agreement, the interpreter lock.

Encodes the same LoCoMo turns (or, without the LoCoMo file, bench_api's generated memories)
with both runtimes of `LocalProvider` in one run, at EMBEDDING_BATCH_SIZE's default batch of
64, alternating the runtimes for a few passes and keeping each one's best pass, so a busy
neighbour on a shared machine costs both sides alike; the CPU time per text (the whole
process's, best pass) is reported beside the rate, as it depends less on such neighbours. Then:
- agreement: the lowest and mean cosine between the two runtimes' vectors of every text;
- two threads embedding half the texts each at once against one thread embedding them all;
- the interpreter lock: how late a Python thread that sleeps 1 ms at a time wakes up while a
  runtime encodes, against idle (a runtime holding the lock through a batch would delay it
  by the whole batch).

Usage: PYTHONPATH=. python scripts/bench_local_model.py [--texts 2000] [--batch 64] [--passes 2]
                                                       [--threads 0] [--out bench-results/local-model.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from bench_api import machine, memory_text
from bench_locomo import DEFAULT_PATH, parse_samples

from loci.config import LocalRuntime
from loci.embedding.local import LocalProvider

Encode = Callable[[Sequence[str]], list[list[float]]]


def corpus(count: int) -> tuple[list[str], str]:
    """`count` texts: LoCoMo turns ("Speaker: text") when the file is there, else generated memories."""
    if DEFAULT_PATH.is_file():
        turns, _ = parse_samples(json.loads(DEFAULT_PATH.read_text()), None, None)
        texts = [f"{t.speaker}: {t.content}" for t in turns]
        return [texts[i % len(texts)] for i in range(count)], f"LoCoMo dev turns ({len(texts)} distinct)"
    rng = random.Random(7)
    return [memory_text(rng) for _ in range(count)], "bench_api memory_text"


def batches(texts: Sequence[str], size: int) -> list[Sequence[str]]:
    return [texts[i : i + size] for i in range(0, len(texts), size)]


def encode_all(embed: Encode, texts: Sequence[str], size: int) -> tuple[float, list[list[float]]]:
    started, vectors = time.perf_counter(), []
    for chunk in batches(texts, size):
        vectors.extend(embed(chunk))
    return time.perf_counter() - started, vectors


def timed_pass(embed: Encode, texts: Sequence[str], size: int) -> tuple[float, float, list[list[float]]]:
    """(wall seconds, CPU seconds of the whole process, vectors) for one pass over `texts`."""
    cpu = time.process_time()
    seconds, vectors = encode_all(embed, texts, size)
    return seconds, time.process_time() - cpu, vectors


def two_threads(embed: Encode, texts: Sequence[str], size: int) -> float:
    """Seconds for two threads to encode half the texts each, at once."""
    half = len(texts) // 2
    workers = [threading.Thread(target=encode_all, args=(embed, part, size)) for part in (texts[:half], texts[half:])]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


def wake_delays(stop: threading.Event, delays: list[float]) -> None:
    """Sleep 1 ms again and again, noting how late each wake-up got the interpreter lock back."""
    while not stop.is_set():
        asked = time.perf_counter()
        time.sleep(0.001)
        delays.append(time.perf_counter() - asked - 0.001)


def lock_delay_ms(embed: Encode | None, texts: Sequence[str], size: int) -> dict[str, float]:
    """p50 / p99 / max wake-up delay (ms) of a Python thread while `embed` encodes (None: idle, 2 s).

    A runtime that held the interpreter lock through a forward pass would delay every wake-up
    by up to that pass (hundreds of ms at batch 64); one that frees it delays them by the
    scheduler's share of the cores only.
    """
    delays: list[float] = []
    stop = threading.Event()
    probe = threading.Thread(target=wake_delays, args=(stop, delays))
    probe.start()
    if embed is None:
        stop.wait(2.0)
    else:
        encode_all(embed, texts, size)
    stop.set()
    probe.join()
    ordered = sorted(delays)
    return {
        "p50": round(ordered[len(ordered) // 2] * 1000, 2),
        "p99": round(ordered[int(len(ordered) * 0.99)] * 1000, 2),
        "max": round(ordered[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: one per core)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/local-model.json"))
    args = parser.parse_args()
    texts, source = corpus(args.texts)
    with tempfile.TemporaryDirectory(prefix="loci-bench-model-") as cache:
        started = time.perf_counter()
        onnx = LocalProvider(runtime=LocalRuntime.ONNX, cache_dir=Path(cache), threads=args.threads)
        export_s = time.perf_counter() - started
        if onnx.runtime != LocalRuntime.ONNX.value:
            raise SystemExit("the ONNX path fell back to torch: see the log line above")
        torch = LocalProvider(runtime=LocalRuntime.TORCH)
        providers = {"torch": torch, "onnx": onnx}
        for provider in providers.values():
            provider.embed(texts[: args.batch])  # warm-up: first-call allocations
        best: dict[str, float] = {}
        cpu: dict[str, float] = {}
        vectors: dict[str, list[list[float]]] = {}
        for n in range(args.passes):
            for name, provider in providers.items():
                seconds, cpu_s, vectors[name] = timed_pass(provider.embed, texts, args.batch)
                best[name] = min(best.get(name, seconds), seconds)
                cpu[name] = min(cpu.get(name, cpu_s), cpu_s)
                print(f"pass {n + 1} {name}: {len(texts) / seconds:.1f} texts/s, {cpu_s:.1f} CPU s", flush=True)
        a, b = np.array(vectors["torch"]), np.array(vectors["onnx"])
        cosines = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        result: dict[str, object] = {
            "machine": machine(),
            "texts": len(texts),
            "source": source,
            "batch": args.batch,
            "onnx_threads": args.threads or "one per core",
            "onnx_export_seconds": round(export_s, 2),
            "texts_per_s": {name: round(len(texts) / s, 1) for name, s in best.items()},
            "onnx_vs_torch": round(best["torch"] / best["onnx"], 2),
            "cpu_ms_per_text": {name: round(s / len(texts) * 1000, 2) for name, s in cpu.items()},
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "cosine_min": round(float(cosines.min()), 6),
            "cosine_mean": round(float(cosines.mean()), 6),
        }
        few = texts[: args.batch * 8]
        result["python_wake_delay_ms_idle"] = lock_delay_ms(None, few, args.batch)
        for name, provider in providers.items():
            one, _ = encode_all(provider.embed, texts, args.batch)
            two = two_threads(provider.embed, texts, args.batch)
            result[f"{name}_two_threads_vs_one"] = round(one / two, 2)
            result[f"python_wake_delay_ms_while_{name}_encodes"] = lock_delay_ms(provider.embed, few, args.batch)
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
