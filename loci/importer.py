"""Importer: stream a JSONL file of memories to a running service, resumably.

Each line is one memory: a JSON object with the fields of `POST /memory`, or a bare
JSON string taken as its content. Lines go out in batches through `POST /memory/batch`,
each batch with an `Idempotency-Key` derived from its line range and content, so a
batch re-sent after a timeout or a crash is answered with the first response instead
of being stored twice. A line the service refuses (400 naming `memories[i]`) is set
aside with the reason and the rest of its batch is sent again.

Progress goes to an append-only log next to the file (`FILE.import-log`): one JSON
line per acknowledged batch with its line range, a digest of those lines, and the ids
the service gave each line. A rerun resumes after the last logged batch; the digest
check refuses to resume over a file that changed. `wait()` polls `/memory/status` until
every imported memory is searchable or has failed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
"""Answers worth sending the same request again for (409: the first try is still being processed)."""
STATUS_CHUNK = 1000
"""Ids per `/memory/status` request while waiting."""


class ImportFailed(Exception):
    """The import cannot go on (the service refuses the requests, or the log does not fit the file)."""


class RetryableResponse(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


@dataclass(frozen=True)
class Line:
    number: int
    """1-based line number in the file."""
    memory: dict[str, Any]


@dataclass(frozen=True)
class Batch:
    first: int
    last: int
    lines: list[Line]
    rejected: list[tuple[int, str]]
    digest: str
    """sha256 of the raw text of lines first..last: a resume checks the file still has them."""


@dataclass
class Progress:
    """Everything the log knows: which line got which id, which lines were refused and why."""

    next_line: int = 1
    ids: dict[int, str] = field(default_factory=dict)
    rejected: dict[int, str] = field(default_factory=dict)
    deduplicated: int = 0
    last_batch: tuple[int, int, str] | None = None


@dataclass
class Outcome:
    """How the memories of an import ended up after `wait`."""

    completed: int = 0
    failed: list[tuple[int, str, str]] = field(default_factory=list)
    """(line, stage, reason)."""
    pending: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)


def read_batches(path: Path, start: int, size: int) -> Iterator[Batch]:
    """Batches of up to `size` memories from line `start` on; unreadable lines ride along as rejected."""
    lines: list[Line] = []
    rejected: list[tuple[int, str]] = []
    digest = hashlib.sha256()
    first = start
    number = start - 1
    with path.open(encoding="utf-8") as source:
        for number, raw in enumerate(source, 1):
            if number < start:
                continue
            digest.update(raw.encode("utf-8"))
            parsed = _parse_line(raw)
            if isinstance(parsed, str):
                rejected.append((number, parsed))
            elif parsed is not None:
                lines.append(Line(number, parsed))
            if len(lines) == size:
                yield Batch(first, number, lines, rejected, digest.hexdigest())
                lines, rejected, digest, first = [], [], hashlib.sha256(), number + 1
    if lines or rejected or first <= number:
        yield Batch(first, number, lines, rejected, digest.hexdigest())


def _parse_line(raw: str) -> dict[str, Any] | str | None:
    """The memory on a line, None for a blank line, or why the line cannot be a memory."""
    text = raw.strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} (column {exc.colno})"
    if isinstance(value, str):
        return {"content": value}
    if not isinstance(value, dict):
        return "must be a JSON object with a 'content' field, or a JSON string"
    return value


def digest_of_lines(path: Path, first: int, last: int) -> str:
    digest = hashlib.sha256()
    with path.open(encoding="utf-8") as source:
        for number, raw in enumerate(source, 1):
            if number > last:
                break
            if number >= first:
                digest.update(raw.encode("utf-8"))
    return digest.hexdigest()


def count_lines(path: Path) -> int:
    with path.open("rb") as source:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: source.read(1 << 20), b""))


class ProgressLog:
    """The append-only log of acknowledged batches (one JSON object per line, flushed and synced)."""

    def __init__(self, path: Path, source: Path, url: str) -> None:
        self.path, self.source, self.url = path, source, url

    def load(self) -> Progress:
        progress = Progress()
        if not self.path.exists():
            return progress
        entries = self._entries()
        if entries and entries[0].get("url") != self.url:
            raise ImportFailed(
                f"{self.path} records an import into {entries[0].get('url')}, not {self.url}; "
                "use --restart to import again from the first line"
            )
        for entry in entries[1:]:
            progress.ids.update({int(line): memory_id for line, memory_id in entry["ids"]})
            progress.rejected.update({int(line): reason for line, reason in entry["rejected"]})
            progress.deduplicated += entry.get("deduplicated", 0)
            progress.next_line = max(progress.next_line, entry["last"] + 1)
            progress.last_batch = (entry["first"], entry["last"], entry["digest"])
        if progress.last_batch and digest_of_lines(self.source, *progress.last_batch[:2]) != progress.last_batch[2]:
            raise ImportFailed(
                f"{self.source} changed since lines {progress.last_batch[0]}-{progress.last_batch[1]} were imported; "
                "use --restart to import it again from the first line"
            )
        return progress

    def _entries(self) -> list[dict[str, Any]]:
        """The log's entries; a torn last line (a crash while writing it) is left out."""
        lines = self.path.read_text(encoding="utf-8").splitlines()
        entries = []
        for number, line in enumerate(lines, 1):
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                if number < len(lines):
                    raise ImportFailed(f"{self.path} is damaged at line {number}; use --restart") from None
        return entries

    def start(self, restart: bool) -> None:
        if restart or not self.path.exists():
            self._write({"source": str(self.source), "url": self.url, "started": time.time()}, mode="w")

    def append(self, batch: Batch, ids: dict[int, str], rejected: dict[int, str], deduplicated: int) -> None:
        entry = {
            "first": batch.first,
            "last": batch.last,
            "digest": batch.digest,
            "ids": sorted(ids.items()),
            "rejected": sorted(rejected.items()),
            "deduplicated": deduplicated,
        }
        self._write(entry, mode="a")

    def _write(self, entry: dict[str, Any], mode: str) -> None:
        with self.path.open(mode, encoding="utf-8") as log_file:
            log_file.write(json.dumps(entry) + "\n")
            log_file.flush()
            os.fsync(log_file.fileno())


class Importer:
    """Sends batches to one service and records what it acknowledged."""

    def __init__(
        self,
        client: httpx.Client,
        progress_log: ProgressLog,
        *,
        attempts: int = 8,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client, self.journal = client, progress_log
        self.progress = Progress()
        self._retrying = http_retrying(attempts, sleep, max_backoff)

    # --- sending
    def run(self, batch_size: int, restart: bool = False, on_batch: Callable[[Batch], None] | None = None) -> Progress:
        """Send every batch after the logged ones; returns the progress of the whole import."""
        self.progress = Progress() if restart else self.journal.load()
        self.journal.start(restart)
        for batch in read_batches(self.journal.source, self.progress.next_line, batch_size):
            ids, rejected, deduplicated = self.send(batch)
            self.journal.append(batch, ids, rejected, deduplicated)
            self.progress.ids.update(ids)
            self.progress.rejected.update(rejected)
            self.progress.deduplicated += deduplicated
            self.progress.next_line = batch.last + 1
            if on_batch is not None:
                on_batch(batch)
        return self.progress

    def send(self, batch: Batch) -> tuple[dict[int, str], dict[int, str], int]:
        """Store one batch; lines the service refuses are set aside and the rest sent again."""
        rejected = dict(batch.rejected)
        lines = list(batch.lines)
        while lines:
            response = self._post_batch(batch, lines)
            if response.status_code in (200, 201):
                body = response.json()
                ids = {line.number: memory_id for line, memory_id in zip(lines, body["memory_ids"], strict=True)}
                return ids, rejected, len(body.get("deduplicated", []))
            index = _refused_item(response)
            if index is None or index >= len(lines):
                raise ImportFailed(f"the service refused lines {batch.first}-{batch.last}: {_describe(response)}")
            rejected[lines[index].number] = _describe(response)
            log.info("line refused", extra={"event": "import.line_refused", "line": lines[index].number})
            del lines[index]
        return {}, rejected, 0

    def _post_batch(self, batch: Batch, lines: Sequence[Line]) -> httpx.Response:
        payload = {"memories": [line.memory for line in lines]}
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        material = f"{self.journal.url}|{batch.first}-{batch.last}|".encode() + body
        key = "loci-import-" + hashlib.sha256(material).hexdigest()[:40]
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        return self._request("POST", "/memory/batch", content=body, headers=headers)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        def once() -> httpx.Response:
            response = self.client.request(method, path, **kwargs)
            if response.status_code in RETRY_STATUSES:
                raise RetryableResponse(response)
            return response

        try:
            response = self._retrying(once)
        except RetryableResponse as exc:
            raise ImportFailed(f"{method} {path} kept failing: {_describe(exc.response)}") from exc
        except httpx.TransportError as exc:
            raise ImportFailed(f"cannot reach {self.client.base_url}: {exc}") from exc
        if response.status_code in (401, 403):
            raise ImportFailed(f"{method} {path}: {_describe(response)} (set --token or AUTOMEM_API_TOKEN)")
        if response.status_code == 413:
            raise ImportFailed(f"{method} {path}: {_describe(response)}; use a smaller --batch-size")
        return response

    # --- waiting
    def wait(self, timeout: float, poll: float = 0.5, on_poll: Callable[[Outcome, int], None] | None = None) -> Outcome:
        """Poll /memory/status until every imported memory is completed or failed (or `timeout` passes)."""
        line_of = {memory_id: line for line, memory_id in self.progress.ids.items()}
        waiting = list(dict.fromkeys(self.progress.ids.values()))
        outcome = Outcome()
        deadline = time.monotonic() + timeout
        while True:
            still: list[str] = []
            for start in range(0, len(waiting), STATUS_CHUNK):
                body = self._status(waiting[start : start + STATUS_CHUNK])
                outcome.completed += len(body["completed_ids"])
                outcome.failed += [(line_of[f["id"]], f["stage"], f["reason"]) for f in body["failed"]]
                outcome.unknown += [line_of[i] for i in body["unknown_ids"]]
                still += body["pending_ids"]
            waiting = still
            if on_poll is not None:
                on_poll(outcome, len(waiting))
            if not waiting or time.monotonic() >= deadline:
                break
            time.sleep(poll)
        outcome.pending = sorted(line_of[i] for i in waiting)
        outcome.failed.sort()
        outcome.unknown.sort()
        return outcome

    def _status(self, ids: list[str]) -> dict[str, Any]:
        response = self._request("POST", "/memory/status", json={"ids": ids})
        if response.status_code != 200:
            raise ImportFailed(f"POST /memory/status: {_describe(response)}")
        body: dict[str, Any] = response.json()
        return body


def _refused_item(response: httpx.Response) -> int | None:
    """The batch index a 400 names (`memories[3].content` gives 3), if it names one."""
    if response.status_code != 400:
        return None
    field_name = str(_json(response).get("field") or "")
    if not field_name.startswith("memories["):
        return None
    index = field_name[len("memories[") :].split("]", 1)[0]
    return int(index) if index.isdigit() else None


def http_retrying(attempts: int, sleep: Callable[[float], None], max_backoff: float = 30.0) -> Retrying:
    """Retries of one HTTP call to a Loci service (the importer's and restore's): transport errors and
    RetryableResponse, exponential backoff with jitter, at least the server's Retry-After."""
    return Retrying(
        retry=retry_if_exception(lambda exc: isinstance(exc, httpx.TransportError | RetryableResponse)),
        wait=_wait_with_retry_after(wait_exponential_jitter(multiplier=0.5, max=max_backoff)),
        stop=stop_after_attempt(attempts),
        sleep=sleep,
        reraise=True,
    )


def _describe(response: httpx.Response) -> str:
    body = _json(response)
    message = body.get("message") or body.get("error") or response.text[:200]
    return f"HTTP {response.status_code}: {message}"


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _wait_with_retry_after(backoff: Callable[[RetryCallState], float]) -> Callable[[RetryCallState], float]:
    """Exponential backoff with jitter, but never less than the server's Retry-After."""

    def wait(state: RetryCallState) -> float:
        delay = backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableResponse):
            with contextlib.suppress(ValueError):
                delay = max(delay, float(exc.response.headers.get("Retry-After", "0")))
        return delay

    return wait
