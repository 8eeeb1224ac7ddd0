"""/viewer/ and /viewer/<path>: where a browser opens the memory graph. No token is needed: the
pages hold no data, and the viewer calls the API with the token the user gives it.

ENABLE_GRAPH_VIEWER=false turns them off (404). For now they send the browser to AutoMem's
standalone viewer (loci/api/viewer_redirect.py); Loci's own memory browser will answer here.
"""

from __future__ import annotations

from flask import Blueprint, Response

from loci.api import viewer_redirect
from loci.api.inputs import services
from loci.errors import NotFound

bp = Blueprint("viewer", __name__)


@bp.get("/viewer/")
def index() -> Response:
    """The viewer's start page."""
    return _answer("")


@bp.get("/viewer/<path:path>")
def page(path: str) -> Response:
    """A page or file of the viewer."""
    return _answer(path)


def _answer(path: str) -> Response:
    settings = services().settings
    if not settings.enable_graph_viewer:
        raise NotFound("The graph viewer is turned off (ENABLE_GRAPH_VIEWER=false)")
    return viewer_redirect.respond(settings.graph_viewer_url, path)
