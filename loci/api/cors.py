"""Cross-origin access for browser clients served from other origins (AutoMem's standalone graph viewer).

flask-cors answers preflights and adds the `Access-Control-*` headers, for the origins in
VIEWER_ALLOWED_ORIGINS only. None by default (AutoMem's default is any): a service open to
this machine without a token must not let a page on some other site read its memories. A
page may send `Content-Type`, `X-API-Key` and `Authorization`, never `X-Admin-Token`, so the
admin routes stay out of a browser's reach, as in AutoMem.
"""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS

from loci.config import Settings

ALLOWED_HEADERS = ["Content-Type", "X-API-Key", "Authorization"]
PREFLIGHT_CACHE_SECONDS = 600


def init_app(app: Flask, settings: Settings) -> None:
    if settings.viewer_allowed_origins:
        CORS(
            app,
            origins=list(settings.viewer_allowed_origins),
            allow_headers=ALLOWED_HEADERS,
            max_age=PREFLIGHT_CACHE_SECONDS,
        )
