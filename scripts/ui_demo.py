"""Demo memories for the memory browser and a headless Chromium to look at it, shared by
tests/test_ui_browser.py and scripts/ui_screenshots.py.

`seed()` stores a few hundred memories of a small software team (people, decisions,
preferences, habits, events over the past months) through the API, a handful of them
named so a test can look for them, and waits until all are searchable and enriched.
`launch_chromium()` starts Debian's Chromium through Playwright: Playwright's own browser
downloads are never used.
"""

from __future__ import annotations

import random
import shutil
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Browser, Playwright

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # tests run as root in CI containers, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",  # this machine's network is closed: no update or sync calls
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]

NAMED = {
    "invoices": (
        "Context",
        "The billing service keeps invoices in PostgreSQL 16 with logical replication to the reporting replica",
    ),
    "dark_mode": ("Preference", "Priya prefers dark mode and a 14 pt monospace font in every editor"),
    "release": ("Decision", "We decided to ship the mobile app's offline mode in the March release"),
    "standup": ("Habit", "The team holds standup at 09:30 every weekday in the Kepler room"),
    "peanuts": ("Context", "Marco is allergic to peanuts: order the lunch without them"),
}
"""Memories a test looks for by name; the rest is filler around them."""

PEOPLE = ["Priya", "Marco", "Lena", "Tomás", "Aiko", "Sam", "Noor", "Jonas"]
PROJECTS = ["billing", "search", "mobile app", "onboarding", "data pipeline", "admin console"]
TOOLS = ["PostgreSQL", "Redis", "Kafka", "React", "FastAPI", "Terraform", "Grafana", "pytest"]
TEMPLATES = [
    ("Decision", "We chose {tool} for the {project} because it was the simplest thing that could work"),
    ("Decision", "{person} decided to split the {project} deploy into two steps to cut the rollback time"),
    ("Preference", "{person} prefers small pull requests with a screenshot for every UI change"),
    ("Preference", "{person} likes written design notes before any work on the {project} starts"),
    ("Habit", "{person} reviews the {project} error dashboard in {tool} every Monday morning"),
    ("Insight", "Moving the {project} queue to {tool} halved the p95 latency under load"),
    ("Insight", "Most {project} incidents this quarter came from configuration drift, not code"),
    ("Pattern", "Every {project} migration goes through a dry run on a copy of production first"),
    ("Style", "Tests in the {project} use real {tool} instances rather than mocks"),
    ("Context", "{person} joined the {project} team in {month} and owns its on-call rota"),
    ("Context", "The {project} roadmap for {month} focuses on reliability and clearer errors"),
]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]


def demo_memories(count: int = 300, seed: int = 7) -> list[dict[str, Any]]:
    """The named memories first, then `count - len(NAMED)` generated ones, spread over 120 days."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    items = [
        {
            "content": text,
            "type": kind,
            "tags": ["demo", f"named:{name}"],
            "importance": 0.8,
            "timestamp": _iso(now - timedelta(days=3)),
        }
        for name, (kind, text) in NAMED.items()
    ]
    while len(items) < count:
        kind, template = rng.choice(TEMPLATES)
        person, project, tool = rng.choice(PEOPLE), rng.choice(PROJECTS), rng.choice(TOOLS)
        content = template.format(person=person, project=project, tool=tool, month=rng.choice(MONTHS))
        items.append(
            {
                "content": f"{content} (note {len(items)})",
                "type": kind,
                "tags": ["demo", f"project:{project.replace(' ', '-')}"],
                "importance": round(rng.uniform(0.2, 0.95), 2),
                "timestamp": _iso(now - timedelta(days=rng.uniform(4, 120))),
            }
        )
    return items


def seed(base_url: str, token: str, count: int = 300, timeout: float = 300.0) -> dict[str, str]:
    """Store the demo memories and wait until every one is searchable and enriched; the named ones' ids."""
    items = demo_memories(count)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        ids: list[str] = []
        for start in range(0, len(items), 100):
            answer = client.post("/memory/batch", json={"memories": items[start : start + 100]})
            answer.raise_for_status()
            ids.extend(answer.json()["memory_ids"])
        wait_until_completed(client, ids, timeout)
    return dict(zip(NAMED, ids, strict=False))


def wait_until_completed(client: httpx.Client, ids: list[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        counts = client.post("/memory/status", json={"ids": ids}).json()["counts"]
        if counts["pending"] == 0:
            if counts["failed"]:
                raise RuntimeError(f"{counts['failed']} demo memories failed in the pipeline")
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"demo memories still pending after {timeout:.0f}s: {counts}")
        time.sleep(0.3)


def chromium_path() -> str | None:
    """Debian's Chromium, if installed (make test installs it where it can)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch_chromium(playwright: Playwright) -> Browser:
    path = chromium_path()
    if path is None:
        raise RuntimeError("Chromium is not installed (Debian package `chromium`)")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
