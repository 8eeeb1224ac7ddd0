"""Scheduler: consolidation and sync at their intervals, with flask-apscheduler, one per process.

One table lists the jobs and the setting that gives each its interval (0 disables it).
A job's first run is placed one interval after its last recorded run, so a restart
neither repeats work nor skips it; a job that never ran starts after
CONSOLIDATION_STARTUP_DELAY_SECONDS (or its interval, if shorter). Jobs never overlap
themselves and missed runs are coalesced into one.

With a `Lease` (loci/lease.py; a fleet of processes on one FalkorDB), every process
schedules the jobs but only the lease's holder runs them: a due job first keeps the lease
(acquire or renew), and a `lease` job renews it every third of its ttl. A process that
takes the lease over places each job one interval after the fleet's last recorded run, so
the jobs keep the old holder's rhythm: each runs once per interval across the fleet.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from datetime import datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from flask_apscheduler import APScheduler

from loci.config import Settings
from loci.diskspace import DiskGuard
from loci.errors import LociError
from loci.lease import Lease
from loci.stores.graph import GraphStore
from loci.timeutil import iso, parse_timestamp, utcnow

log = logging.getLogger(__name__)

JOBS: tuple[tuple[str, str], ...] = (
    ("decay", "consolidation_decay_interval_seconds"),
    ("creative", "consolidation_creative_interval_seconds"),
    ("cluster", "consolidation_cluster_interval_seconds"),
    ("forget", "consolidation_forget_interval_seconds"),
    ("sync", "sync_check_interval_seconds"),
)
"""(task, the Settings field holding its interval in seconds)."""


class ScheduledWork(Protocol):
    """What the scheduler runs: a Consolidator, or loci/runtime.py's EveryNamespace over all of them."""

    @property
    def graph(self) -> GraphStore:
        """Where past runs are recorded (`maintenance.last_runs()`)."""
        ...

    def run_task(self, task: str, *, dry_run: bool, scheduled: bool = False) -> dict[str, Any]: ...


class Scheduler:
    def __init__(
        self,
        consolidator: ScheduledWork,
        settings: Settings,
        disk: DiskGuard | None = None,
        lease: Lease | None = None,
    ) -> None:
        self.consolidator, self.settings = consolidator, settings
        self.disk = disk  # below the free-space reserve a due job is skipped until its next run
        self.lease = lease  # None: this process runs every job (the single-process set-up)
        self._leading = False  # held the lease at the last look
        self._lease_lock = threading.Lock()
        self._not_before: dict[str, datetime] = {}  # set on taking the lease over
        self._aps = APScheduler(scheduler=BackgroundScheduler(timezone="UTC", daemon=True))
        self._started = False

    def intervals(self) -> dict[str, float]:
        intervals = {task: float(getattr(self.settings, field)) for task, field in JOBS}
        if not self.settings.sync_auto_repair:
            intervals["sync"] = 0.0
        return intervals

    def init_app(self, app: Flask) -> None:
        self._aps.init_app(app)

    def start(self) -> None:
        """Add the enabled jobs, each first due one interval after its last run, and start."""
        if self._started:
            return
        try:
            last_runs = self.consolidator.graph.maintenance.last_runs()
        except LociError:
            last_runs = {}
        now = utcnow()
        if self.lease is not None:
            self._keep_lease()  # before the jobs exist: their first runs already follow the last ones
        for task, interval in self.intervals().items():
            if interval <= 0:
                continue
            self._aps.add_job(
                id=task,
                func=self._run,
                args=[task],
                trigger="interval",
                seconds=interval,
                next_run_time=self.first_run(last_runs.get(task), interval, now),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(interval),
                replace_existing=True,
            )
        if self.lease is not None:
            renew_every = self.lease.ttl / 3
            self._aps.add_job(
                id="lease", func=self._keep_lease, trigger="interval", seconds=renew_every, max_instances=1
            )
        self._aps.start()
        self._started = True
        log.info("scheduler started", extra={"event": "scheduler.started", "next_runs": self.next_runs()})

    def first_run(self, last: str | None, interval: float, now: datetime) -> datetime:
        soonest = now + timedelta(seconds=min(self.settings.consolidation_startup_delay_seconds, interval))
        if last is None:
            return soonest
        return max(parse_timestamp(last) + timedelta(seconds=interval), soonest)

    def _keep_lease(self) -> bool:
        """Acquire or renew the lease; on taking it over, place the jobs after the fleet's last runs."""
        assert self.lease is not None
        with self._lease_lock:
            try:
                held = self.lease.acquire()
            except LociError:
                held = False
            if held != self._leading:
                self._leading = held
                log.info("scheduler lease changed hands", extra={"event": "scheduler.lease", "held": held})
                if held:
                    self._not_before = self._follow_last_runs()
            return held

    def _follow_last_runs(self) -> dict[str, datetime]:
        """Move each job whose last recorded run (by any process) was less than an interval ago to one
        interval after it; returns those times (the jobs must not run before them)."""
        try:
            last_runs = self.consolidator.graph.maintenance.last_runs()
        except LociError:
            return {}
        now, moved = utcnow(), {}
        for task, interval in self.intervals().items():
            if interval <= 0 or task not in last_runs:
                continue
            after_last = parse_timestamp(last_runs[task]) + timedelta(seconds=interval)
            job = self._aps.get_job(task) if self._started else None
            if after_last > now:
                moved[task] = after_last
                if job is not None:
                    job.modify(next_run_time=after_last)
        return moved

    def _run(self, task: str) -> None:
        if self.lease is not None and not self._leads(task):
            return
        if self.disk is not None and not self.disk.writable():
            log.info("scheduled job skipped: disk space low", extra={"event": "scheduler.job_skipped", "task": task})
            return
        try:
            self.consolidator.run_task(task, dry_run=False, scheduled=True)
        except Exception:  # the job's edge: log it; the scheduler keeps the next run
            log.exception("scheduled job failed", extra={"event": "scheduler.job_failed", "task": task})

    def _leads(self, task: str) -> bool:
        """This process holds the lease, and the task is not waiting out an interval after a takeover."""
        if not self._keep_lease():
            return False  # another process runs the fleet's jobs
        not_before = self._not_before.get(task)
        return not_before is None or utcnow() >= not_before

    def next_runs(self) -> dict[str, str]:
        """When each job runs next (ISO time), or "Disabled"."""
        runs: dict[str, Any] = {}
        for task, interval in self.intervals().items():
            job = self._aps.get_job(task) if self._started and interval > 0 else None
            runs[task] = iso(job.next_run_time) if job and job.next_run_time else "Disabled"
        return runs

    @property
    def running(self) -> bool:
        return bool(self._started and self._aps.running)

    def shutdown(self) -> None:
        if self._started:
            self._aps.shutdown(wait=False)
            self._started = False
        if self.lease is not None and self._leading:
            self._leading = False
            with contextlib.suppress(LociError):  # unreachable: it expires on its own
                self.lease.release()  # the next holder need not wait for the expiry
