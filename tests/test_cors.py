"""CORS: pages on the origins in VIEWER_ALLOWED_ORIGINS may call the API from a browser; no other page may,
and no page may send the admin token. Off by default."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from loci.config import Settings

VIEWER = "https://viewer.example"
API = {"Authorization": "Bearer api-token"}


def preflight(app: Flask, origin: str, headers: str = "authorization") -> dict[str, str]:
    response = app.test_client().options(
        "/graph/stats",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": headers},
    )
    assert response.status_code == 200
    return dict(response.headers)


def test_allowed_origins_may_call_the_api_from_a_browser(make_app: Callable[..., Flask]) -> None:
    app = make_app(api_token="api-token", viewer_allowed_origins=(VIEWER,))
    allowed = preflight(app, VIEWER)
    assert allowed["Access-Control-Allow-Origin"] == VIEWER
    assert "authorization" in allowed["Access-Control-Allow-Headers"].lower()
    response = app.test_client().get("/graph/stats", headers={**API, "Origin": VIEWER})
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == VIEWER
    refused = app.test_client().get("/graph/stats", headers={"Origin": VIEWER})  # CORS is not a token
    assert refused.status_code == 401


def test_other_origins_and_the_admin_header_are_not_allowed(make_app: Callable[..., Flask]) -> None:
    app = make_app(api_token="api-token", viewer_allowed_origins=(VIEWER,))
    assert "Access-Control-Allow-Origin" not in preflight(app, "https://elsewhere.example")
    other = app.test_client().get("/graph/stats", headers={**API, "Origin": "https://elsewhere.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    admin = preflight(app, VIEWER, headers="x-admin-token")
    assert "x-admin-token" not in admin.get("Access-Control-Allow-Headers", "").lower()


def test_off_by_default(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    assert "Access-Control-Allow-Origin" not in preflight(app, VIEWER)
    response = app.test_client().get("/graph/stats", headers={"Origin": VIEWER})
    assert response.status_code == 200 and "Access-Control-Allow-Origin" not in response.headers


def test_the_setting_takes_a_comma_separated_list() -> None:
    settings = Settings.from_env({"VIEWER_ALLOWED_ORIGINS": f"{VIEWER}, http://localhost:5173"})
    assert settings.viewer_allowed_origins == (VIEWER, "http://localhost:5173")
