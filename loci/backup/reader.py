"""A backup file read as restore records, without loading it whole: Loci's archives and AutoMem's.

Both write the same tar.gz layout (see loci/backup/archive.py). The member JSON is read
element by element (`json_events`), so a member of any size passes through a small buffer.
Node properties become `RestoreMemory`-shaped dicts (`memory_record`): AutoMem's metadata
is a JSON string, its enrichment is the `processed`/`enriched` flags; Loci's is
`enrichment_status`. A file that is not a gzip'd tar, is cut short, or holds malformed JSON
raises `BackupFileError` with what was wrong and where.
"""

from __future__ import annotations

import codecs
import gzip
import json
import tarfile
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from loci.schemas import RESTORE_EDGE_TYPES, RESTORE_LEGACY_EDGES

READ_CHUNK = 1 << 20
MEMORY_FIELDS = (
    "content",
    "type",
    "confidence",
    "importance",
    "timestamp",
    "updated_at",
    "last_accessed",
    "t_valid",
    "t_invalid",
    "stored_at",
    "tags",
    "summary",
    "enriched_at",
    "relevance_score",
    "archived",
    "archived_at",
    "protected",
)
DERIVED = frozenset(
    {
        "id",
        "metadata",
        "tag_prefixes",
        "tag_keys",
        "content_hash",
        "timestamp_epoch",
        "processed",
        "enriched",
        "embedded_hash",
        "type_source",
        *(f"{stage}_{part}" for stage in ("embedding", "enrichment") for part in ("status", "attempts", "error")),
    }
)
"""Node properties a restore derives again (or that describe the old store's pipeline)."""
SIDE_LABELS = ("Pattern", "Entity")


class BackupFileError(Exception):
    """The backup file cannot be read (not a tar.gz, cut short, malformed JSON)."""


class BackupFile:
    """The members of one backup archive; each read as a stream of (key, value) events."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with tarfile.open(path, "r:gz") as archive:
                names = [m.name for m in archive.getmembers() if m.isfile()]
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise BackupFileError(f"{path} is not a readable tar.gz backup: {exc}") from exc
        self.graph_member = next((n for n in names if n.startswith("falkordb/") and n.endswith(".json.gz")), None)
        self.vector_member = next((n for n in names if n.startswith("qdrant/") and n.endswith(".json.gz")), None)
        if not self.graph_member and not self.vector_member:
            raise BackupFileError(f"{path} holds neither falkordb/*.json.gz nor qdrant/*.json.gz")

    def verify(self) -> Counter[str]:
        """Read every member through to its end (gzip checksums included) before anything is sent, so a
        damaged file is refused whole; returns the number of elements of each top-level array."""
        counts: Counter[str] = Counter()
        for member in (self.graph_member, self.vector_member):
            if member:
                for key, _ in self.events(member):
                    counts[key] += 1
        return counts

    def events(self, member: str) -> Iterator[tuple[str, Any]]:
        """(key, element) for each element of a top-level array, (key, value) for any other value."""
        try:
            with tarfile.open(self.path, "r:gz") as archive:
                raw = archive.extractfile(member)
                if raw is None:
                    raise BackupFileError(f"{member} is not a file")
                with gzip.GzipFile(fileobj=raw) as unpacked:
                    yield from json_events(cast(IO[bytes], unpacked), member)
        except (tarfile.TarError, OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
            raise BackupFileError(f"{self.path}: {member} is damaged or cut short: {exc}") from exc


def json_events(stream: IO[bytes], where: str) -> Iterator[tuple[str, Any]]:
    """Walk one top-level JSON object, yielding array elements one at a time."""
    reader = _Buffer(stream, where)
    reader.expect("{")
    if reader.peek() == "}":
        return
    while True:
        key = reader.value()
        if not isinstance(key, str):
            raise BackupFileError(f"{where}: expected a key, found {key!r}")
        reader.expect(":")
        if reader.peek() == "[":
            reader.expect("[")
            if reader.peek() == "]":
                reader.expect("]")
            else:
                while True:
                    yield key, reader.value()
                    if reader.expect(",", "]") == "]":
                        break
        else:
            yield key, reader.value()
        if reader.expect(",", "}") == "}":
            return


class _Buffer:
    def __init__(self, stream: IO[bytes], where: str) -> None:
        self.stream, self.where = stream, where
        self.decoder = json.JSONDecoder()
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.text, self.pos, self.eof = "", 0, False

    def _more(self) -> bool:
        """Read the next chunk into the buffer (dropping what was consumed); False at the end."""
        if self.eof:
            return False
        chunk = self.stream.read(READ_CHUNK)
        self.eof = not chunk
        self.text = self.text[self.pos :] + self.utf8.decode(chunk, final=self.eof)
        self.pos = 0
        return not self.eof

    def _skip_space(self) -> None:
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.text) or not self._more():
                return

    def peek(self) -> str:
        self._skip_space()
        if self.pos >= len(self.text):
            raise BackupFileError(f"{self.where}: the JSON ends early (the file is cut short)")
        return self.text[self.pos]

    def expect(self, *tokens: str) -> str:
        found = self.peek()
        if found not in tokens:
            raise BackupFileError(f"{self.where}: expected {' or '.join(tokens)}, found {found!r}")
        self.pos += 1
        return found

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                if self._more():
                    continue
                raise BackupFileError(f"{self.where}: malformed or cut-short JSON ({exc.msg})") from None
            unfinished = end == len(self.text) and not self.eof and not isinstance(value, dict | list | str)
            if unfinished and self._more():  # a number may go on in the next chunk
                continue
            self.pos = end
            return value


def memory_record(memory_id: Any, props: dict[str, Any]) -> dict[str, Any]:
    """A memory node's (or a vector payload's) properties as a `RestoreMemory` body."""
    record: dict[str, Any] = {"id": memory_id}
    for name in MEMORY_FIELDS:
        if props.get(name) is not None:
            record[name] = props[name]
    record["metadata"] = _metadata(props.get("metadata"))
    record["enriched"] = (
        props.get("enrichment_status") == "completed" or props.get("processed") is True or props.get("enriched") is True
    )
    record["extra"] = {
        key: value
        for key, value in props.items()
        if key not in DERIVED and key not in MEMORY_FIELDS and _storable(value)
    }
    return record


def edge_type(name: Any) -> str | None:
    """The type a restore writes an edge as (legacy names are read as DISCOVERED), or None."""
    kind = str(name).upper() if isinstance(name, str) else ""
    return kind if kind in RESTORE_EDGE_TYPES or kind in RESTORE_LEGACY_EDGES else None


def _metadata(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and raw.strip():
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            return {"_raw": raw}
        return parsed if isinstance(parsed, dict) else {"_value": parsed}
    return {}


def _storable(value: Any) -> bool:
    scalar = (str, int, float, bool)
    return isinstance(value, scalar) or (isinstance(value, list) and all(isinstance(x, scalar) for x in value))
