"""Lease: one holder at a time across a fleet, as a Redis key with an expiry on FalkorDB's server.

The scheduler takes one so each job runs once per interval across every process: the
holder runs the jobs, the others skip them, and when the holder dies its key expires
(`ttl_seconds` after its last renewal) and the next process to try takes over.

- `acquire()`: SET key holder NX PX ttl (or a renewal, if the lease is already ours);
- `renew()` / `release()`: Lua scripts that PEXPIRE / DEL the key only if its value is
  still ours. Reading the value and acting on it in one script is what makes them safe:
  between a separate GET and DEL the lease could expire and pass to another process,
  whose lease the DEL would then end;
- `holder()`: who holds it now (for /health);
- `held`: this process's own belief, which errs on the side of "no": the lease counts as
  held until `ttl` after the start of the last successful acquire or renewal, measured
  on this process's monotonic clock, so it lapses here no later than on the server.

`LeaseRenewer` is a small thread that keeps (acquires or renews) a lease every
`interval` seconds and releases it when stopped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from loci.errors import GraphUnavailable

log = logging.getLogger(__name__)

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """A named lease; `holder` is this process's name for itself (unique in the fleet)."""

    def __init__(self, client: redis.Redis, key: str, holder: str, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError("a lease needs a positive ttl")
        self.key, self.name, self.ttl = key, holder, ttl_seconds
        self._redis = client
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._valid_until = 0.0

    @property
    def _ttl_ms(self) -> int:
        return max(round(self.ttl * 1000), 1)

    def acquire(self) -> bool:
        """Take the lease if free (or renew it if ours); True if this process holds it now."""
        started = time.monotonic()
        taken = self._call(lambda: self._redis.set(self.key, self.name, nx=True, px=self._ttl_ms))
        if taken:
            self._valid_until = started + self.ttl
            log.info("lease taken", extra={"event": "lease.acquired", "lease": self.key, "holder": self.name})
            return True
        return self.renew()

    def renew(self) -> bool:
        """Extend the lease by a full ttl if it is still ours; False if it expired or passed to another."""
        started = time.monotonic()
        if int(self._call(lambda: self._renew(keys=[self.key], args=[self.name, self._ttl_ms]))) == 1:
            self._valid_until = started + self.ttl
            return True
        self._valid_until = 0.0
        return False

    def release(self) -> bool:
        """Give the lease up if it is still ours (a clean stop: the next holder need not wait for the expiry)."""
        self._valid_until = 0.0
        released = int(self._call(lambda: self._release(keys=[self.key], args=[self.name]))) == 1
        if released:
            log.info("lease released", extra={"event": "lease.released", "lease": self.key, "holder": self.name})
        return released

    def holder(self) -> str | None:
        """Who holds the lease now, across the fleet (None: nobody)."""
        value = self._call(lambda: self._redis.get(self.key))
        return None if value is None else str(value)

    @property
    def held(self) -> bool:
        """This process holds it, by its own conservative reckoning (see the module docstring)."""
        return time.monotonic() < self._valid_until

    def _call(self, command: Callable[[], Any]) -> Any:
        try:
            return command()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            self._valid_until = 0.0
            raise GraphUnavailable(f"lease {self.key!r}: FalkorDB is unreachable: {exc}") from exc


class LeaseRenewer:
    """A daemon thread keeping a lease: acquire or renew every `interval` seconds, release on stop."""

    def __init__(self, lease: Lease, interval: float) -> None:
        self.lease, self.interval = lease, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="loci-lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.lease.acquire()
            except GraphUnavailable as exc:  # the loop's edge: keep trying while the server is away
                log.warning("could not keep the lease", extra={"event": "lease.unreachable", "error": exc.message})
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with contextlib.suppress(GraphUnavailable):  # unreachable: it expires on its own
            self.lease.release()
