"""The application factory: the table of contents of a Loci process."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import Map

from loci import api
from loci.config import Settings, unsupported_variables
from loci.logs import configure_logging
from loci.runtime import Runtime

log = logging.getLogger(__name__)


class _ExactPaths(Map):
    """URL rules that never merge slashes: `//memory` is an unknown route (404 in the envelope),
    not a 308 redirect to /memory that a client would follow with its body and token."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("merge_slashes", False)
        super().__init__(*args, **kwargs)


class _InOrderJSON(DefaultJSONProvider):
    """Responses keep their keys in the order the views write them (AutoMem's order), not sorted."""

    sort_keys = False


class LociFlask(Flask):
    url_map_class = _ExactPaths
    json_provider_class = _InOrderJSON


def create_app(
    settings: Settings | None = None, *, start_workers: bool = True, clock: Callable[[], float] = time.monotonic
) -> Flask:
    """Build the Flask app: settings, services (stores, provider, workers), routes.

    Without `settings` they are read from the environment. The workers start here, once
    per process, so they run under gunicorn as well as under `python app.py`. Tests pass
    `start_workers=False` and drive the workers themselves (`drain()`), and may pass a fake
    monotonic `clock` for the work queues' retry times (see `Runtime.open`).
    """
    ignored: list[str] = []
    if settings is None:
        settings, ignored = Settings.from_env(os.environ), unsupported_variables(os.environ)
    configure_logging(settings)
    if ignored:
        log.warning(
            "these AutoMem settings are not supported by Loci and are ignored",
            extra={"event": "config.ignored", "variables": ignored},
        )
    app = LociFlask("loci")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    runtime = Runtime.open(settings, clock=clock)
    api.init_app(app, runtime)
    runtime.scheduler.init_app(app)
    if start_workers:
        runtime.start()
    services = runtime.default
    if not settings.api_token and not settings.tokens_file:
        log.warning(
            "no AUTOMEM_API_TOKEN set: the API is open, so it listens on 127.0.0.1 only",
            extra={"event": "auth.open_api", "bind_host": settings.bind_host},
        )
    log.info(
        "loci ready",
        extra={
            "event": "loci.ready",
            "graph": "embedded" if services.falkordb_server else settings.falkordb_host,
            "vector_store": services.vectors.kind,
            "provider": services.provider.name,
            "model": services.provider.model,
            "runtime": services.provider.runtime,
            "dimension": services.vectors.dimension,
        },
    )
    return app
