"""RequestLog: short-lived keys that make repeated stores harmless, kept in FalkorDB's Redis side.

Two rules, both within IDEMPOTENCY_WINDOW_SECONDS:
- an `Idempotency-Key` header: the first request with a key is processed; a repeat gets
  the first response again (a repeat with a different body is refused, 422; a repeat
  while the first is still being processed gets 409);
- without a key, storing the same content with the same tags, type and timestamp (when the
  client gives one) again returns the original memory's id, marked `deduplicated`.
Keys expire on their own (Redis TTL) and live with the graph's data, so a restart keeps them.

A request being processed holds its key with a marker that expires after
IN_PROGRESS_LEASE_SECONDS (past any request's deadline), so a key whose release failed,
because the store was briefly unreachable, is free again soon even before the settler
(loci/unsettled.py) deletes it. Releases compare before deleting: a claim or marker that
was taken over meanwhile is left to its new holder.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from loci.diskspace import disk_refusal
from loci.errors import Conflict, GraphUnavailable, InvalidRequest
from loci.model import tag_key

IN_PROGRESS = "in-progress"
IN_PROGRESS_LEASE_SECONDS = 30
"""How long a request's in-progress marker holds its key: longer than a store request can run
(a few bounded graph calls), so it lapses only for a request whose release failed."""


class IdempotencyMismatch(InvalidRequest):
    status = 422


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Lease:
    """A key held by the request being processed: its name and this request's own marker."""

    name: str
    marker: str


def fingerprint(content: str, tags: Sequence[str], kind: str | None, timestamp: str | None) -> str:
    """Identity of a store for de-duplication: content, the set of tags, the type and the
    timestamp asked for (the same words logged for two different days are two memories)."""
    identity = [content, sorted({tag_key(t) for t in tags}), kind or "", timestamp or ""]
    material = json.dumps(identity, ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


_CLAIM = """
local previous = {}
for i, key in ipairs(KEYS) do
  previous[i] = redis.call('SET', key, ARGV[i + 1], 'NX', 'GET', 'EX', ARGV[1]) or ''
end
return previous
"""
"""SET NX GET for every fingerprint in one round trip; '' where the key was free (now claimed)."""

_RELEASE = """
local freed = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then
    redis.call('DEL', key)
    freed = freed + 1
  end
end
return freed
"""
"""Delete each key only while it still holds the given value; returns how many were deleted."""

_FINISH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return false
"""
"""Record a response only while the key still holds this request's in-progress marker: a request that
outlived its lease must not overwrite the marker (or answer) of the request that took the key after it."""


class RequestLog:
    def __init__(self, client: redis.Redis, namespace: str, window: int) -> None:
        self._redis, self.window = client, window
        self._prefix = f"loci:{namespace}"
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._finish = client.register_script(_FINISH)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise GraphUnavailable(f"FalkorDB is unreachable: {exc}") from exc
        except redis.exceptions.ResponseError as exc:  # MISCONF / OOM: the write was refused, not applied
            refusal = disk_refusal(exc, "FalkorDB")
            if refusal is None:
                raise
            raise refusal from exc

    # --- Idempotency-Key
    def begin(self, key: str, request_hash: str) -> Replay | Lease | None:
        """Claim a key for this request (a `Lease`); the earlier response if the key was used already.
        None when keys are off."""
        if self.window <= 0:
            return None
        name = f"{self._prefix}:idem:{key}"
        marker = json.dumps({"state": IN_PROGRESS, "hash": request_hash, "request": uuid.uuid4().hex})
        lease = min(self.window, IN_PROGRESS_LEASE_SECONDS)
        if self._call(self._redis.set, name, marker, nx=True, ex=lease):
            return Lease(name, marker)
        stored = json.loads(self._call(self._redis.get, name) or "null")
        if stored is None:  # expired between the two calls: claim it now
            return self.begin(key, request_hash)
        if stored["hash"] != request_hash:
            raise IdempotencyMismatch(
                "Idempotency-Key was already used with a different request", field="Idempotency-Key"
            )
        if stored["state"] == IN_PROGRESS:
            raise Conflict("A request with this Idempotency-Key is still being processed")
        return Replay(stored["status"], stored["body"])

    def finish(self, lease: Lease, request_hash: str, status: int, body: dict[str, Any]) -> None:
        """Remember the response for repeats (only successes; a failure frees the key)."""
        if status >= 400:
            self.free(lease)
            return
        record = json.dumps({"state": "done", "hash": request_hash, "status": status, "body": body})
        self._call(self._finish, keys=[lease.name], args=[lease.marker, record, self.window])

    def free(self, lease: Lease) -> None:
        """Free a key held by a request that failed (unless another request holds it by now)."""
        self._call(self._release, keys=[lease.name], args=[lease.marker])

    # --- de-duplication without a key
    def claim(self, fingerprints: Sequence[str], memory_ids: Sequence[str]) -> list[str | None]:
        """For each fingerprint: None if it is new (now claimed for the given id), or the id that
        claimed it within the window."""
        if self.window <= 0 or not fingerprints:
            return [None] * len(fingerprints)
        keys = [f"{self._prefix}:dedup:{digest}" for digest in fingerprints]
        found = self._call(self._claim, keys=keys, args=[self.window, *memory_ids])
        previous = [value.decode() if isinstance(value, bytes) else value for value in found]
        return [value or None for value in previous]

    def take_over(self, digest: str, memory_id: str) -> None:
        """Point a fingerprint at a new memory (its original is gone)."""
        if self.window > 0:
            self._call(self._redis.set, f"{self._prefix}:dedup:{digest}", memory_id, ex=self.window)

    def release(self, claims: Sequence[tuple[str, str]]) -> None:
        """Forget (fingerprint, memory id) claims of memories that were not stored after all; a
        fingerprint that points at another memory by now (taken over) is left as it is."""
        if self.window > 0 and claims:
            keys = [f"{self._prefix}:dedup:{digest}" for digest, _ in claims]
            self._call(self._release, keys=keys, args=[memory_id for _, memory_id in claims])
