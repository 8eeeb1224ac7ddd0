"""Sending a browser from /viewer/* to AutoMem's standalone graph viewer at GRAPH_VIEWER_URL.

This is what /viewer/* does until Loci has its own memory browser; replacing it is a
change to loci/api/viewer.py alone.

- No viewer URL configured: 503.
- An asset-like path (`assets/...`, or a file name such as `app.js`, `logo.png`): a 302
  to the same path under the viewer URL, the query string kept.
- Any other path: a small HTML page whose script (loci/static/viewer/redirect.js) sends
  the browser on to the viewer, adding `server=<this origin>` (so the viewer knows which
  API to call) and keeping the `#token` fragment, which browsers never send to a server.
  The page runs under a strict Content-Security-Policy: no inline script, nothing from
  another origin; the target travels in a data attribute, HTML-escaped.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import urlsplit, urlunsplit

from flask import Response, request, url_for
from markupsafe import escape
from werkzeug.exceptions import ServiceUnavailable

ASSET_SUFFIXES = frozenset(
    {".js", ".mjs", ".css", ".map", ".json", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp",
     ".woff", ".woff2", ".ttf", ".otf", ".wasm", ".txt", ".webmanifest"}
)  # fmt: skip
"""Paths ending so are files of the viewer, fetched directly rather than opened as pages."""

PAGE_CSP = "default-src 'none'; script-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
"""The redirect page may run only this origin's script file: nothing inline, nothing from elsewhere."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>Opening the memory graph viewer</title>
<script src="{script}" data-target="{target}"></script>
</head>
<body>
<p>Opening the memory graph viewer: <a href="{target}">continue</a>.</p>
</body>
</html>
"""


def is_asset(path: str) -> bool:
    return path.startswith("assets/") or PurePosixPath(path).suffix.lower() in ASSET_SUFFIXES


def viewer_target(viewer_url: str, path: str, query: str) -> str:
    """`path` under the viewer URL's own path, with the request's query string (the viewer URL's own
    query first)."""
    scheme, netloc, base, own_query, _ = urlsplit(viewer_url)
    full_path = base.rstrip("/") + "/" + path.lstrip("/")
    return urlunsplit((scheme, netloc, full_path, "&".join(part for part in (own_query, query) if part), ""))


def respond(viewer_url: str | None, path: str) -> Response:
    """The answer to GET /viewer/<path> (module docstring)."""
    if not viewer_url:
        raise ServiceUnavailable("The graph viewer is not configured: set GRAPH_VIEWER_URL to its address")
    target = viewer_target(viewer_url, path, request.query_string.decode("latin-1"))
    if is_asset(path):
        return Response(status=302, headers={"Location": target})
    script = url_for("static", filename="viewer/redirect.js")
    page = PAGE.format(script=escape(script), target=escape(target))
    response = Response(page, status=200, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
