"""The memory browser: a page and its files at /ui/, and the same page at /viewer/ for links made
for AutoMem's graph viewer.

The page holds no data and needs no token; it asks the user for the API token and calls this
API with it, like any client (loci/static/ui/, plain ES modules, no build step). Everything it
loads comes from this origin, under a strict Content-Security-Policy: no inline script or style,
no other origin to load from or connect to, no framing. ENABLE_GRAPH_VIEWER=false turns both
paths off (404).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from flask import Blueprint, Response, redirect, send_from_directory
from werkzeug.exceptions import NotFound as WerkzeugNotFound
from werkzeug.wrappers import Response as BaseResponse

from loci.api.inputs import services
from loci.errors import NotFound

bp = Blueprint("ui", __name__)

UI_DIR = Path(__file__).resolve().parent.parent / "static" / "ui"
PAGE = "index.html"

UI_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Only this origin's files run or style the page, and it talks only to this API."""

ASSET_SUFFIXES = frozenset({".js", ".mjs", ".css", ".map", ".json", ".png", ".jpg", ".svg", ".ico", ".woff2", ".txt"})
"""A /viewer/ path ending so names a file (AutoMem's viewer's assets), not a page: 404 rather than the page."""


@bp.get("/ui")
def root() -> BaseResponse:
    """The browser's address without the slash: on to /ui/."""
    _check_enabled()
    return redirect("/ui/", code=308)


@bp.get("/ui/")
def index() -> Response:
    """The memory browser's page."""
    _check_enabled()
    return _send(PAGE)


@bp.get("/ui/<path:filename>")
def asset(filename: str) -> Response:
    """A file of the memory browser (script, style sheet, icon, the vendored graph library)."""
    _check_enabled()
    return _send(filename)


@bp.get("/viewer/")
def viewer_index() -> Response:
    """AutoMem's viewer address: the memory browser's page."""
    _check_enabled()
    return _send(PAGE)


@bp.get("/viewer/<path:path>")
def viewer_page(path: str) -> Response:
    """Any page under AutoMem's viewer address opens the memory browser; its files do not exist here."""
    _check_enabled()
    if PurePosixPath(path).suffix.lower() in ASSET_SUFFIXES:
        raise NotFound(f"No such file of the memory browser: {path}")
    return _send(PAGE)


def _check_enabled() -> None:
    if not services().settings.enable_graph_viewer:
        raise NotFound("The memory browser is turned off (ENABLE_GRAPH_VIEWER=false)")


def _send(filename: str) -> Response:
    try:
        # max_age 0 with an ETag: a browser revalidates, so an upgraded service serves its new files at once
        response = send_from_directory(UI_DIR, filename, max_age=0)
    except WerkzeugNotFound:
        raise NotFound(f"No such file of the memory browser: {filename}") from None
    if response.mimetype == "text/javascript" or filename.endswith(".js"):
        response.mimetype = "text/javascript"  # module scripts need a JavaScript type, whatever the host's mime table
    response.headers["Content-Security-Policy"] = UI_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    return response
