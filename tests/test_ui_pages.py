"""The memory browser's page and files as the server sends them (loci/api/ui.py): open without a
token, one page at /ui/ and /viewer/, every file under a strict Content-Security-Policy, no inline
script or style anywhere, the module graph complete, the vendored graph library as recorded.

What the page does in a browser is tests/test_ui_browser.py's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from loci.api.ui import UI_DIR

PAGES = ("/ui/", "/viewer/", "/viewer/memories", "/viewer/graph/some-id")


@pytest.fixture
def guarded(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(api_token="ui-token").test_client()


def ui_files() -> list[Path]:
    return sorted(path for path in UI_DIR.rglob("*") if path.is_file())


def test_the_page_opens_without_a_token_and_the_data_does_not(guarded: FlaskClient) -> None:
    for path in PAGES:
        response = guarded.get(path)
        assert response.status_code == 200, path
        assert response.mimetype == "text/html"
        assert b'<script type="module" src="/ui/js/app.js"></script>' in response.data
    assert guarded.get("/graph/types").status_code == 401  # what the page calls first
    redirect = guarded.get("/ui")
    assert redirect.status_code == 308 and redirect.headers["Location"].endswith("/ui/")


def test_every_file_is_served_under_a_strict_policy(guarded: FlaskClient) -> None:
    for path in ui_files():
        name = path.relative_to(UI_DIR).as_posix()
        response = guarded.get(f"/ui/{name}")
        assert response.status_code == 200, name
        csp = response.headers["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert directives["connect-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
        assert "unsafe" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        if name.endswith(".js"):
            assert response.mimetype == "text/javascript", name  # module scripts are refused under another type
        response.close()


def test_no_inline_script_or_style_in_the_page() -> None:
    html = (UI_DIR / "index.html").read_text()
    for match in re.finditer(r"<script([^>]*)>(.*?)</script>", html, re.S):
        assert 'src="' in match.group(1) and not match.group(2).strip()
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers


def test_no_script_writes_html_or_inline_styles() -> None:
    """Text goes in through textContent (dom.js's h()), so stored memory content can never run as script."""
    for path in (UI_DIR / "js").rglob("*.js"):
        code = path.read_text()
        for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert banned not in code, f"{path.name} uses {banned}"
        assert 'setAttribute("style"' not in code and "cssText" not in code, path.name


def test_every_module_import_resolves_to_a_served_file(guarded: FlaskClient) -> None:
    for path in (UI_DIR / "js").rglob("*.js"):
        for target in re.findall(r'^import .*? from "([^"]+)";', path.read_text(), re.M):
            resolved = (path.parent / target).resolve()
            assert resolved.is_file(), f"{path.name} imports {target}"
            response = guarded.get("/ui/" + resolved.relative_to(UI_DIR).as_posix())
            assert response.status_code == 200
            response.close()


def test_the_vendored_graph_library_is_the_recorded_release() -> None:
    record = (UI_DIR / "vendor" / "README.md").read_text()
    version = re.search(r"\| \[cytoscape\]\([^)]*\) \| ([0-9.]+) \| MIT", record)
    assert version, "vendor/README.md records cytoscape's version and licence"
    bundle = (UI_DIR / "vendor" / "cytoscape.esm.min.js").read_text()
    assert f'.version="{version.group(1)}"' in bundle
    assert "Permission is hereby granted" in (UI_DIR / "vendor" / "cytoscape.LICENSE.txt").read_text()
    # the library's own container style is provided as a file, so it never injects an inline <style>
    assert "__________cytoscape_stylesheet" in bundle
    assert 'id="__________cytoscape_stylesheet"' in (UI_DIR / "index.html").read_text()


def test_missing_files_and_escapes_are_404(guarded: FlaskClient) -> None:
    for path in ("/ui/nothing.js", "/ui/../config.py", "/ui/%2e%2e/api/ui.py", "/ui/js/../../api/ui.py"):
        response = guarded.get(path)
        assert response.status_code == 404, path
        assert response.json and response.json["status"] == "error"
    # AutoMem's viewer had its own files under /viewer/: they do not exist here, and are not answered with the page
    assert guarded.get("/viewer/assets/index-abc.js").status_code == 404


def test_turned_off_is_404(make_app: Callable[..., Flask]) -> None:
    client = make_app(enable_graph_viewer=False).test_client()
    for path in ("/ui", "/ui/", "/ui/ui.css", "/viewer/", "/viewer/memories"):
        assert client.get(path).status_code == 404, path
