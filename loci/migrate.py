"""Migrate: move a running AutoMem into Loci in one command, through the restore path.

With AutoMem's admin token the source's own `GET /backup` is downloaded (nodes, edges and
vectors). Without it, the public API is read into a file of the same layout:
- memories: `GET /recall` with no query over a time window, oldest first. AutoMem answers
  a query-less recall with at most `limit` memories of the window (its most important), so a
  window that comes back full is split in two until every window comes back short: each
  memory is then seen, whatever the order within a window. Only 100+ memories sharing one
  timestamp to the microsecond cannot be split (reported as skipped).
- edges: `GET /graph/snapshot?limit=0` (every node and the edges among them, up to AutoMem's
  50,000-node cap; beyond it the edges are partial, and reported so).
- vectors: the API does not expose them; Loci embeds every memory again.

The file is kept next to the restore log (`--dir`), so a rerun restores from it again and
resumes after the last acknowledged page; `--restart` fetches it afresh.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from loci.importer import _describe
from loci.restore import RestoreFailed

log = logging.getLogger(__name__)

RECALL_LIMIT = 100
"""AutoMem's RECALL_MAX_LIMIT: a window answered with this many may hold more."""
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
ONE = timedelta(microseconds=1)


@dataclass
class Fetched:
    """What was read from the source's API."""

    memories: int = 0
    edges: int = 0
    requests: int = 0
    notes: list[str] = field(default_factory=list)


def source_client(url: str, token: str | None, admin_token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if admin_token:
        headers["X-Admin-Token"] = admin_token
    return httpx.Client(base_url=url, headers=headers, timeout=httpx.Timeout(600.0, connect=10.0))


def backup_path(directory: Path, url: str, with_admin: bool) -> Path:
    where = urlsplit(url).netloc.replace(":", "_") or "automem"
    return directory / f"automem-{where}-{'backup' if with_admin else 'api'}.tar.gz"


def fetch(client: httpx.Client, path: Path, with_admin: bool) -> Fetched:
    """Write the source's data to `path` (through a .part file renamed when complete)."""
    part = path.with_name(path.name + ".part")
    fetched = download_backup(client, part) if with_admin else read_api(client, part)
    part.replace(path)
    return fetched


def download_backup(client: httpx.Client, target: Path) -> Fetched:
    """AutoMem's GET /backup, streamed to `target`."""
    with client.stream("GET", "/backup") as response:
        if response.status_code != 200:
            response.read()
            raise RestoreFailed(f"GET /backup on the source: {_describe(response)}")
        with target.open("wb") as out:
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)
    return Fetched(requests=1, notes=["read the source's GET /backup (memories, edges and vectors)"])


def read_api(client: httpx.Client, target: Path) -> Fetched:
    """Every memory (recall by time windows) and the edges of the graph snapshot, as a backup file."""
    fetched = Fetched()
    internal: dict[str, int] = {}
    stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime())
    with tempfile.TemporaryFile() as spool:
        with gzip.GzipFile(fileobj=spool, mode="wb") as packed:
            out = io.TextIOWrapper(packed, encoding="utf-8")
            out.write(json.dumps({"timestamp": stamp, "graph_name": "automem-api"})[:-1] + ', "nodes": [')
            for memory in _memories(client, fetched):
                internal[memory["id"]] = len(internal)
                node = {"id": internal[memory["id"]], "labels": ["Memory"], "properties": memory}
                out.write(("\n" if len(internal) == 1 else ",\n") + json.dumps(node, default=str))
            out.write('\n], "relationships": [')
            for edge in _edges(client, internal, fetched):
                out.write(("\n" if fetched.edges == 1 else ",\n") + json.dumps(edge, default=str))
            stats = {"node_count": len(internal), "relationship_count": fetched.edges}
            out.write('\n], "stats": ' + json.dumps(stats) + "}\n")
            out.flush()
            out.detach()
        fetched.memories = len(internal)
        fetched.notes.append("vectors: the API does not expose them, so every memory is embedded again")
        info = tarfile.TarInfo(f"falkordb/falkordb_{stamp}.json.gz")
        info.size = spool.tell()
        spool.seek(0)
        with tarfile.open(target, "w:gz") as archive:
            archive.addfile(info, spool)
    return fetched


def _memories(client: httpx.Client, fetched: Fetched) -> Iterator[dict[str, Any]]:
    """Each memory once: windows answered full are split until each is answered short."""
    seen: set[str] = set()
    windows = [(EARLIEST, LATEST)]
    while windows:
        low, high = windows.pop()
        results = _recall(client, low, high, fetched)
        if len(results) >= RECALL_LIMIT:
            if high - low > ONE:
                middle = low + (high - low) / 2
                windows += [(middle + ONE, high), (low, middle)]  # popped oldest first
                continue
            fetched.notes.append(f"{RECALL_LIMIT}+ memories share the timestamp {low.isoformat()}; only some moved")
        for result in results:
            memory_id = str(result.get("id") or "")
            found = result.get("memory")
            memory: dict[str, Any] = found if isinstance(found, dict) else {}
            if memory_id and memory_id not in seen:
                seen.add(memory_id)
                yield {**memory, "id": memory_id}


def _recall(client: httpx.Client, low: datetime, high: datetime, fetched: Fetched) -> list[dict[str, Any]]:
    params: dict[str, str | int] = {
        "start": low.isoformat(),
        "end": high.isoformat(),
        "sort": "time_asc",
        "limit": RECALL_LIMIT,
        "state_mode": "history",
    }
    fetched.requests += 1
    response = client.get("/recall", params=params)
    if response.status_code != 200:
        raise RestoreFailed(f"GET /recall on the source: {_describe(response)}")
    results = response.json().get("results") or []
    return [r for r in results if isinstance(r, dict) and r.get("match_type") not in ("relation", "entity_expansion")]


def _edges(client: httpx.Client, internal: dict[str, int], fetched: Fetched) -> Iterator[dict[str, Any]]:
    fetched.requests += 1
    response = client.get("/graph/snapshot", params={"limit": 0})
    if response.status_code != 200:
        fetched.notes.append(f"edges not moved: GET /graph/snapshot answered {_describe(response)}")
        return
    body = response.json()
    if (body.get("stats") or {}).get("sampled"):
        fetched.notes.append("edges partial: the source's graph snapshot was sampled (over 50,000 memories)")
    for edge in body.get("edges") or []:
        source, target = internal.get(str(edge.get("source"))), internal.get(str(edge.get("target")))
        if source is None or target is None:
            continue
        properties = dict(edge.get("properties") or {})
        if edge.get("strength") is not None:
            properties.setdefault("strength", edge["strength"])
        fetched.edges += 1
        yield {"source_id": source, "type": edge.get("type"), "target_id": target, "properties": properties}


# --- the commands: `python -m loci restore FILE` and `python -m loci migrate --from URL`
def add_commands(commands: Any, defaults: dict[str, str | None]) -> None:
    """The restore and migrate subcommands of `python -m loci` (loci/cli.py)."""
    restore = commands.add_parser(
        "restore",
        help="restore a Loci or AutoMem backup (tar.gz) into a running service",
        description="Send FILE (from GET /backup of Loci or AutoMem) to the service page by page, keeping "
        "ids, timestamps, edges and vectors. Refuses a service that already holds memories unless --merge. "
        "Progress is logged next to the file (FILE.restore-log): the same command again resumes.",
    )
    restore.add_argument("file", type=Path, help="the backup file")
    restore.add_argument("--url", default=defaults["url"], help="the Loci service (default: LOCI_URL or %(default)s)")
    restore.add_argument("--token", default=defaults["token"], help="Loci's API token (default: AUTOMEM_API_TOKEN)")
    restore.add_argument(
        "--admin-token", default=defaults.get("admin_token"), help="Loci's admin token (default: ADMIN_API_TOKEN)"
    )
    migrate = commands.add_parser(
        "migrate",
        help="move a running AutoMem's memories into a running Loci",
        description="Pull a running AutoMem's GET /backup (with --admin-token) or read its API (--token alone), "
        "then restore it into Loci. Resumable: the same command again continues where it stopped.",
    )
    migrate.add_argument("--from", dest="source", required=True, help="the AutoMem service, e.g. http://host:8001")
    migrate.add_argument("--token", help="AutoMem's API token")
    migrate.add_argument("--admin-token", help="AutoMem's admin token: its whole backup, vectors included")
    migrate.add_argument("--to", dest="url", default=defaults["url"], help="Loci (default: LOCI_URL or %(default)s)")
    migrate.add_argument(
        "--loci-token", default=defaults["token"], help="Loci's API token (default: AUTOMEM_API_TOKEN)"
    )
    migrate.add_argument(
        "--loci-admin-token", default=defaults.get("admin_token"), help="Loci's admin token (default: ADMIN_API_TOKEN)"
    )
    migrate.add_argument("--dir", type=Path, default=Path("."), help="where the fetched file and its log go")
    for parser in (restore, migrate):
        parser.add_argument("--merge", action="store_true", help="add to a service that already holds memories")
        parser.add_argument("--restart", action="store_true", help="ignore an earlier progress log and start again")


def run_command(args: Any, out: Any = None) -> int:
    """Run `restore` or `migrate`; 0 when everything moved, 1 when something was skipped, 2 on failure."""
    import sys

    from loci.restore import restore_file

    out = out or sys.stdout
    try:
        notes: list[str] = []
        token, admin = args.token, args.admin_token
        if args.command == "migrate":
            args.dir.mkdir(parents=True, exist_ok=True)
            path = backup_path(args.dir, args.source, bool(admin))
            if args.restart or not path.exists():
                with source_client(args.source, token, admin) as client:
                    fetched = fetch(client, path, bool(admin))
                notes = [f"read from {args.source}: {fetched.requests} requests", *fetched.notes]
            else:
                notes = [f"using {path} fetched earlier (--restart fetches it again)"]
            token, admin = args.loci_token, args.loci_admin_token
        else:
            path = args.file
            if not path.is_file():
                raise RestoreFailed(f"{path} is not a file")
        summary = restore_file(path, args.url, token, admin, merge=args.merge, restart=args.restart, out=sys.stderr)
    except (RestoreFailed, httpx.TransportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in [*notes, *summary.lines()]:
        out.write(line + "\n")
    return 1 if summary.skipped else 0
