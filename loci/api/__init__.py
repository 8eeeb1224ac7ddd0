"""The HTTP API: one blueprint per resource, plus auth and error rendering.

Views read top to bottom: parse and validate (`loci.api.schemas`), call the store or
queue (`loci.memories`, `loci.recall`), respond. They reach the process's `Services`
through `services()`.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, current_app, request

from loci.errors import InvalidRequest
from loci.services import Services


def services() -> Services:
    return current_app.extensions["loci"]  # type: ignore[no-any-return]


def json_object() -> dict[str, Any]:
    """The request body as a JSON object (whatever the Content-Type says), or 400."""
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: 413
    if not raw.strip():
        raise InvalidRequest("JSON body is required")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidRequest(f"Malformed JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("JSON body must be an object")
    return body


def init_app(app: Flask, svc: Services) -> None:
    from loci.api import associations, auth, errors, health, memory, recall

    app.extensions["loci"] = svc
    errors.init_app(app)
    auth.init_app(app, svc.settings)
    for module in (health, memory, associations, recall):
        app.register_blueprint(module.bp)
