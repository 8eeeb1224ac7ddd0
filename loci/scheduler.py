"""Scheduler: consolidation and sync at their intervals, with flask-apscheduler, one per process.

One table lists the jobs and the setting that gives each its interval (0 disables it).
A job's first run is placed one interval after its last recorded run, so a restart
neither repeats work nor skips it; a job that never ran starts after
CONSOLIDATION_STARTUP_DELAY_SECONDS (or its interval, if shorter). Jobs never overlap
themselves and missed runs are coalesced into one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from flask_apscheduler import APScheduler

from loci.config import Settings
from loci.diskspace import DiskGuard
from loci.errors import LociError
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
    def __init__(self, consolidator: ScheduledWork, settings: Settings, disk: DiskGuard | None = None) -> None:
        self.consolidator, self.settings = consolidator, settings
        self.disk = disk  # below the free-space reserve a due job is skipped until its next run
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
        self._aps.start()
        self._started = True
        log.info("scheduler started", extra={"event": "scheduler.started", "next_runs": self.next_runs()})

    def first_run(self, last: str | None, interval: float, now: datetime) -> datetime:
        soonest = now + timedelta(seconds=min(self.settings.consolidation_startup_delay_seconds, interval))
        if last is None:
            return soonest
        return max(parse_timestamp(last) + timedelta(seconds=interval), soonest)

    def _run(self, task: str) -> None:
        if self.disk is not None and not self.disk.writable():
            log.info("scheduled job skipped: disk space low", extra={"event": "scheduler.job_skipped", "task": task})
            return
        try:
            self.consolidator.run_task(task, dry_run=False, scheduled=True)
        except Exception:  # the job's edge: log it; the scheduler keeps the next run
            log.exception("scheduled job failed", extra={"event": "scheduler.job_failed", "task": task})

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
