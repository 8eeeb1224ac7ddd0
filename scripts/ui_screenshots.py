"""Screenshots of each screen of the memory browser for docs/ui.md (`make ui-screenshots`).

Starts the service under gunicorn in a temporary directory, stores the demo memories
(scripts/ui_demo.py), links two of them, and photographs sign-in, browse, search, one
memory, its neighbourhood, the whole graph and activity at laptop width, and the search
and memory screens at phone width, in Debian's headless Chromium.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright
from service_process import ROOT, ServiceProcess
from ui_demo import launch_chromium, seed

TOKEN = "screenshot-token"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="where the PNG files go")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        ServiceProcess(Path(tmp) / "data", Path(tmp) / "log", {"AUTOMEM_API_TOKEN": TOKEN}) as svc,
    ):
        named = seed(svc.base_url, TOKEN)
        with httpx.Client(base_url=svc.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as api:
            for other, kind in (("dark_mode", "RELATES_TO"), ("standup", "LEADS_TO")):
                link = {"memory1_id": named["release"], "memory2_id": named[other], "type": kind, "strength": 0.8}
                api.post("/associate", json=link).raise_for_status()
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            laptop = browser.new_context(base_url=svc.base_url, viewport={"width": 1280, "height": 860})
            shoot_laptop(laptop.new_page(), named, args.out)
            phone = browser.new_context(
                base_url=svc.base_url, viewport={"width": 390, "height": 844}, device_scale_factor=2
            )
            shoot_phone(phone.new_page(), named, args.out)
            browser.close()
    for path in sorted(args.out.glob("ui-*.png")):
        print(path.relative_to(ROOT))


def sign_in(page: Page) -> None:
    page.goto("/ui/")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".result-list")).to_be_visible()


def shoot_laptop(page: Page, named: dict[str, str], out: Path) -> None:
    page.goto("/ui/")
    expect(page.get_by_label("API token")).to_be_visible()
    page.screenshot(path=out / "ui-sign-in.png")
    sign_in(page)
    page.screenshot(path=out / "ui-browse.png")
    page.goto("/ui/#/memories?q=which+database+keeps+the+invoices")
    expect(page.locator(".summary")).to_be_visible()
    page.screenshot(path=out / "ui-search.png")
    page.goto(f"/ui/#/memory/{named['release']}")
    expect(page.locator(".relation-row").first).to_be_visible()
    page.screenshot(path=out / "ui-memory.png", full_page=True)
    page.get_by_role("button", name="Edit").click()
    page.screenshot(path=out / "ui-edit.png")
    page.goto(f"/ui/#/graph/{named['release']}?depth=2")
    expect(page.locator("#graph-canvas[data-nodes]")).to_be_visible()
    page.screenshot(path=out / "ui-neighbourhood.png")
    page.goto("/ui/#/graph")
    expect(page.locator("#graph-canvas[data-nodes]")).to_be_visible()
    page.screenshot(path=out / "ui-graph.png")
    page.goto("/ui/#/activity")
    expect(page.locator(".stages-table")).to_be_visible()
    page.wait_for_timeout(5500)  # a second health poll, so the rates are filled in
    page.screenshot(path=out / "ui-activity.png", full_page=True)


def shoot_phone(page: Page, named: dict[str, str], out: Path) -> None:
    sign_in(page)
    page.goto("/ui/#/memories?q=who+prefers+dark+mode")
    expect(page.locator(".summary")).to_be_visible()
    page.screenshot(path=out / "ui-phone-search.png")
    page.goto(f"/ui/#/memory/{named['dark_mode']}")
    expect(page.locator("#memory-content")).to_be_visible()
    page.screenshot(path=out / "ui-phone-memory.png")


if __name__ == "__main__":
    main()
