"""Restore: send a backup file (Loci's or AutoMem's) to a running service, page by page, resumably.

The file is read as a stream (loci/backup/reader.py). Its vectors are set aside first in a
temporary SQLite file, so each page of memories goes out with its vectors and a memory
whose vector fits the running model is never embedded again. Then pages of memories, of
side nodes (patterns, entities) and of edges go to `POST /admin/restore`, each with an
`Idempotency-Key` derived from its place and content; the service creates only what is
absent, so a page sent twice changes nothing twice.

Progress goes to an append-only log next to the file (`FILE.restore-log`): one line per
acknowledged page. A rerun skips the pages logged; a log written for another file or
service is refused. The first page of a restore that is not `--merge` asks the service
to refuse (409) if it already holds memories. An item the service refuses (400 naming
`memories[i]`, `nodes[i]`, `edges[i]`) is set aside with the reason and its page sent again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from loci.backup.reader import SIDE_LABELS, BackupFile, BackupFileError, edge_type, memory_record
from loci.importer import RETRY_STATUSES, RetryableResponse, _describe, _json, http_retrying
from loci.schemas import canonical_id

log = logging.getLogger(__name__)

PAGE_ITEMS = 500
PAGE_BYTES = 4 * 1024 * 1024
"""A page goes out once it holds this many items or about this many bytes of JSON."""
SHOWN = 20


class RestoreFailed(Exception):
    """The restore cannot go on (service unreachable or refusing, store not empty, a damaged file)."""


@dataclass
class Page:
    number: int
    kind: str
    """"memories", "nodes" or "edges"."""
    items: list[dict[str, Any]]


@dataclass
class Summary:
    """What moved, what was skipped and why."""

    memories: int = 0
    present: int = 0
    vectors: int = 0
    reembed: int = 0
    nodes: int = 0
    edges: int = 0
    edges_missing_end: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    pages: int = 0
    resumed_after: int = 0

    def skip(self, reason: str, what: str) -> None:
        self.skipped[reason] += 1
        if len(self.examples) < SHOWN:
            self.examples.append(f"{what}: {reason}")

    def add(self, body: dict[str, Any]) -> None:
        self.memories += int(body.get("restored", 0))
        self.present += len(body.get("present_ids", []))
        self.vectors += int(body.get("vectors", 0))
        self.reembed += int(body.get("reembed", 0))
        self.nodes += int(body.get("nodes", 0))
        self.edges += int(body.get("edges", 0))
        self.edges_missing_end += int(body.get("edges_missing_end", 0))

    def lines(self) -> list[str]:
        rows = [
            f"memories restored: {self.memories} ({self.vectors} with their vectors, {self.reembed} to embed again)",
            f"memories already present (left as they were): {self.present}",
            f"patterns and entities: {self.nodes}; edges: {self.edges} "
            f"({self.edges_missing_end} not written: an end is missing)",
            f"skipped: {sum(self.skipped.values())}",
        ]
        rows += [f"  {count} x {reason}" for reason, count in self.skipped.most_common()]
        rows += [f"  e.g. {example}" for example in self.examples[:SHOWN]]
        return rows


class RestoreLog:
    """The append-only log of acknowledged pages (one JSON line each, synced)."""

    def __init__(self, path: Path, fingerprint: str, url: str) -> None:
        self.path, self.fingerprint, self.url = path, fingerprint, url

    def load(self) -> tuple[int, Summary]:
        """The last acknowledged page number (0: none) and the summary so far."""
        summary = Summary()
        if not self.path.exists():
            return 0, summary
        lines = self.path.read_text(encoding="utf-8").splitlines()
        entries = []
        for number, line in enumerate(lines, 1):
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                if number < len(lines):
                    raise RestoreFailed(f"{self.path} is damaged at line {number}; use --restart") from None
        if not entries:
            return 0, summary
        head = entries[0]
        if head.get("fingerprint") != self.fingerprint or head.get("url") != self.url:
            raise RestoreFailed(
                f"{self.path} records a restore of another file or into another service "
                f"({head.get('url')}); use --restart to begin again"
            )
        last = 0
        for entry in entries[1:]:
            last = max(last, int(entry["page"]))
            summary.add(entry["outcome"])
            for reason, what in entry.get("skipped", []):
                summary.skip(reason, what)
        summary.resumed_after = last
        return last, summary

    def start(self) -> None:
        self._write({"fingerprint": self.fingerprint, "url": self.url, "started": time.time()}, "w")

    def append(self, page: int, outcome: dict[str, Any], skipped: list[tuple[str, str]]) -> None:
        self._write({"page": page, "outcome": outcome, "skipped": skipped}, "a")

    def _write(self, entry: dict[str, Any], mode: str) -> None:
        with self.path.open(mode, encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")
            out.flush()
            os.fsync(out.fileno())


def file_fingerprint(path: Path) -> str:
    """Size and the digest of the first MiB: enough to tell one backup file from another."""
    digest = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as source:
        digest.update(source.read(1 << 20))
    return digest.hexdigest()[:32]


class VectorShelf:
    """The backup's vectors by memory id, in a temporary SQLite file (never all in memory)."""

    def __init__(self, directory: Path | None) -> None:
        handle, name = tempfile.mkstemp(prefix="loci-restore-", suffix=".sqlite", dir=directory)
        os.close(handle)
        self.path = Path(name)
        self.db = sqlite3.connect(self.path)
        self.db.execute("CREATE TABLE v (id TEXT PRIMARY KEY, vector TEXT, payload TEXT)")

    def fill(self, backup: BackupFile, summary: Summary) -> None:
        if not backup.vector_member:
            return
        rows: list[tuple[str, str, str]] = []
        for key, point in backup.events(backup.vector_member):
            if key != "points":
                continue
            try:
                memory_id = canonical_id(point.get("id") if isinstance(point, dict) else None)
            except ValueError:
                summary.skip("vector whose id is not a memory id", str(point)[:60])
                continue
            vector, payload = point.get("vector"), point.get("payload")
            if isinstance(vector, dict):  # named vectors: the first one
                vector = next(iter(vector.values()), None)
            rows.append((memory_id, json.dumps(vector), json.dumps(payload if isinstance(payload, dict) else {})))
            if len(rows) >= 1000:
                self.db.executemany("INSERT OR REPLACE INTO v VALUES (?, ?, ?)", rows)
                rows = []
        self.db.executemany("INSERT OR REPLACE INTO v VALUES (?, ?, ?)", rows)
        self.db.commit()

    def vector(self, memory_id: str) -> Any:
        row = self.db.execute("SELECT vector FROM v WHERE id = ?", (memory_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def payloads(self) -> Iterator[tuple[str, Any, dict[str, Any]]]:
        for memory_id, vector, payload in self.db.execute("SELECT id, vector, payload FROM v ORDER BY id"):
            yield memory_id, json.loads(vector), json.loads(payload)

    def close(self) -> None:
        self.db.close()
        self.path.unlink(missing_ok=True)


def pages(backup: BackupFile, shelf: VectorShelf, summary: Summary) -> Iterator[Page]:
    """Every page of the restore, in a fixed order (so a rerun numbers them the same)."""
    keys: dict[int, tuple[str, str]] = {}
    """Internal node id -> (label, id) of restored nodes, for the edges."""
    builder = _Pager()
    if backup.graph_member:
        for key, item in backup.events(backup.graph_member):
            if key == "nodes":
                yield from builder.add(*_node(item, keys, shelf, summary))
            elif key == "relationships":
                yield from builder.add("edges", _edge(item, keys, summary))
    else:  # vectors only: the memories come from the payloads
        for memory_id, vector, payload in shelf.payloads():
            yield from builder.add("memories", {**memory_record(memory_id, payload), "vector": vector})
    yield from builder.flush()


class _Pager:
    def __init__(self) -> None:
        self.number, self.kind, self.size = 0, "", 0
        self.items: list[dict[str, Any]] = []

    def add(self, kind: str, item: dict[str, Any] | None) -> Iterator[Page]:
        if item is None:
            return
        if kind != self.kind or len(self.items) >= PAGE_ITEMS or self.size >= PAGE_BYTES:
            yield from self.flush()
            self.kind = kind
        self.items.append(item)
        self.size += len(json.dumps(item))

    def flush(self) -> Iterator[Page]:
        if self.items:
            self.number += 1
            yield Page(self.number, self.kind, self.items)
        self.items, self.size = [], 0


def _node(
    node: Any, keys: dict[int, tuple[str, str]], shelf: VectorShelf, summary: Summary
) -> tuple[str, dict[str, Any] | None]:
    if not isinstance(node, dict) or not isinstance(node.get("properties"), dict):
        summary.skip("node without properties", str(node)[:60])
        return "memories", None
    labels, props = node.get("labels") or [], node["properties"]
    if "Memory" in labels and "MetaMemory" not in labels:
        try:
            memory_id = canonical_id(props.get("id"))
        except ValueError:
            summary.skip("memory whose id is not a UUID", str(props.get("id"))[:60])
            return "memories", None
        if isinstance(node.get("id"), int):
            keys[node["id"]] = ("Memory", memory_id)
        return "memories", {**memory_record(memory_id, props), "vector": shelf.vector(memory_id)}
    label = next((label for label in SIDE_LABELS if label in labels), None)
    if label and isinstance(props.get("id"), str) and isinstance(node.get("id"), int):
        keys[node["id"]] = (label, props["id"])
        return "nodes", {"label": label, "properties": props}
    reason = "cluster summary (consolidation makes them again)" if "MetaMemory" in labels else "node not restored"
    summary.skip(f"{reason}: {':'.join(map(str, labels)) or 'no label'}", str(props.get("id"))[:60])
    return "memories", None


def _edge(edge: Any, keys: dict[int, tuple[str, str]], summary: Summary) -> dict[str, Any] | None:
    if not isinstance(edge, dict):
        summary.skip("malformed edge", str(edge)[:60])
        return None
    kind = edge_type(edge.get("type"))
    source, target = keys.get(edge.get("source_id")), keys.get(edge.get("target_id"))  # type: ignore[arg-type]
    if kind is None:
        summary.skip(f"edge type not restored: {edge.get('type')}", f"{edge.get('source_id')}->{edge.get('target_id')}")
        return None
    if source is None or target is None:
        summary.skip("edge whose end is not restored", f"{kind} {edge.get('source_id')}->{edge.get('target_id')}")
        return None
    return {
        "type": kind,
        "source": source[1],
        "source_label": source[0],
        "target": target[1],
        "target_label": target[0],
        "properties": {k: v for k, v in (edge.get("properties") or {}).items() if v is not None},
    }


class Restorer:
    """Sends the pages of one backup file to one service, logging each acknowledged page."""

    def __init__(
        self,
        client: httpx.Client,
        backup: BackupFile,
        journal: RestoreLog,
        *,
        merge: bool = False,
        attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client, self.backup, self.journal, self.merge = client, backup, journal, merge
        self._retrying = http_retrying(attempts, sleep)

    def run(
        self,
        restart: bool = False,
        on_page: Callable[[Page], None] | None = None,
        on_start: Callable[[Counter[str]], None] | None = None,
    ) -> Summary:
        """Verify the whole file, then send every page after the logged ones."""
        done, summary = (0, Summary()) if restart else self.journal.load()
        if done == 0:
            self.journal.start()
        totals = self.backup.verify()
        if on_start is not None:
            on_start(totals)
        scan = Summary()  # what the file itself holds that cannot be restored: counted afresh on every run
        shelf = VectorShelf(self.journal.path.parent)
        try:
            shelf.fill(self.backup, scan)
            for page in pages(self.backup, shelf, scan):
                if page.number <= done:
                    continue
                body, skipped = self.send(page, expect_empty=page.number == 1 and not self.merge)
                summary.add(body)
                for reason, what in skipped:
                    summary.skip(reason, what)
                self.journal.append(page.number, body, skipped)
                summary.pages = page.number
                if on_page is not None:
                    on_page(page)
        finally:
            shelf.close()
        summary.skipped.update(scan.skipped)
        summary.examples = (scan.examples + summary.examples)[:SHOWN]
        return summary

    def send(self, page: Page, expect_empty: bool) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Write one page; items the service refuses are set aside (with the reason) and the rest sent again."""
        items, skipped = list(page.items), list[tuple[str, str]]()
        while True:
            payload = {page.kind: items, "expect_empty": expect_empty}
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            material = f"{self.journal.url}|{self.journal.fingerprint}|{page.number}|".encode() + data
            key = "loci-restore-" + hashlib.sha256(material).hexdigest()[:40]
            response = self._request(data, key)
            if response.status_code == 200:
                return response.json(), skipped
            index = _refused_item(response, page.kind)
            if index is None or index >= len(items):
                raise RestoreFailed(f"the service refused page {page.number} ({page.kind}): {_describe(response)}")
            skipped.append((str(_json(response).get("message", "refused")), _name(items[index])))
            del items[index]
            if not items:
                return {}, skipped

    def _request(self, data: bytes, key: str) -> httpx.Response:
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}

        def once() -> httpx.Response:
            response = self.client.post("/admin/restore", content=data, headers=headers)
            in_progress = response.status_code == 409 and "Idempotency-Key" in str(_json(response).get("message"))
            if response.status_code in RETRY_STATUSES - {409} or in_progress:
                raise RetryableResponse(response)
            return response

        try:
            response = self._retrying(once)
        except RetryableResponse as exc:
            raise RestoreFailed(f"POST /admin/restore kept failing: {_describe(exc.response)}") from exc
        except httpx.TransportError as exc:
            raise RestoreFailed(f"cannot reach {self.client.base_url}: {exc}") from exc
        if response.status_code in (401, 403):
            raise RestoreFailed(f"{_describe(response)} (set --token and --admin-token)")
        if response.status_code == 409:
            raise RestoreFailed(_describe(response))
        return response


def _refused_item(response: httpx.Response, kind: str) -> int | None:
    if response.status_code != 400:
        return None
    name = str(_json(response).get("field") or "")
    if not name.startswith(f"{kind}["):
        return None
    index = name[len(kind) + 1 :].split("]", 1)[0]
    return int(index) if index.isdigit() else None


def _name(item: dict[str, Any]) -> str:
    if "source" in item:
        return f"{item.get('type')} {item.get('source')}->{item.get('target')}"
    return str(item.get("id") or (item.get("properties") or {}).get("id"))


def client(url: str, token: str | None, admin_token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if admin_token:
        headers["X-Admin-Token"] = admin_token
    return httpx.Client(base_url=url, headers=headers, timeout=httpx.Timeout(300.0, connect=10.0))


def restore_file(
    path: Path, url: str, token: str | None, admin_token: str | None, *, merge: bool, restart: bool, out: Any
) -> Summary:
    """Restore one backup file with a progress bar; the summary of what moved."""
    from tqdm import tqdm

    try:
        backup = BackupFile(path)
    except BackupFileError as exc:
        raise RestoreFailed(str(exc)) from exc
    journal = RestoreLog(path.with_name(path.name + ".restore-log"), file_fingerprint(path), url.rstrip("/"))
    with client(url, token, admin_token) as http, tqdm(unit="item", desc="restore", disable=None, file=out) as bar:

        def started(totals: Counter[str]) -> None:
            bar.total = totals["nodes"] + totals["relationships"] or totals["points"]
            bar.refresh()

        def sent(page: Page) -> None:
            bar.update(len(page.items))

        try:
            summary = Restorer(http, backup, journal, merge=merge).run(restart=restart, on_page=sent, on_start=started)
        except BackupFileError as exc:
            raise RestoreFailed(f"{exc}; nothing was restored from it") from exc
    log.info("restore finished", extra={"event": "restore.finished", "memories": summary.memories})
    return summary
