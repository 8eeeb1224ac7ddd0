"""The OpenAPI document and its docs page, then schemathesis against the live service.

- every route of `app.url_map` is in /openapi.json (and nothing else is), each operation
  named after its Flask endpoint;
- /openapi.json, /docs and the page's files load without a token, the page runs under a
  strict Content-Security-Policy (no inline script or style, no other origin);
- schemathesis' CLI fuzzes every operation of the service under gunicorn, with both tokens
  configured: at least MIN_REQUESTS requests, no 5xx, every status, content type, header
  and body as the document says. /stream never ends, so it gets a bounded check instead.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema_rs
import pytest
from flask import Flask
from flask.testing import FlaskClient
from service_process import ServiceProcess

from loci.stores.falkordb_server import FalkorDBServer

API_TOKEN = "openapi-test-api-token"
ADMIN_TOKEN = "openapi-test-admin-token"
MIN_REQUESTS = 2000
MAX_EXAMPLES = 60
"""Per operation and phase; with the coverage and stateful phases that makes ~3,500 requests (~40 s)."""
SEED = 20261201
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
NOT_FUZZED = {("get", "/stream")}
"""A long-lived response: checked by test_stream_answers_as_documented instead."""
SCHEMA_LOCATION = ("get", "/openapi.json")
"""schemathesis reads the document from it but sends it no test request; the test checks it itself."""
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def secured(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(api_token=API_TOKEN, admin_token=ADMIN_TOKEN).test_client()


def openapi_path(rule: str) -> str:
    """Werkzeug's `/memory/<memory_id>` or `/static/<path:filename>` as OpenAPI's `/memory/{memory_id}`."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_every_route_is_documented(secured: FlaskClient) -> None:
    document = secured.get("/openapi.json").json
    documented = {
        (path, method.upper()): operation["operationId"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    served = {
        (openapi_path(rule.rule), method): rule.endpoint
        for rule in secured.application.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in IGNORED_METHODS
    }
    assert documented == served


def test_document_is_openapi_31_with_the_auth_schemes(secured: FlaskClient) -> None:
    document = secured.get("/openapi.json").json
    assert document["openapi"].startswith("3.1.")
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerAuth"]["description"],
    }
    assert (schemes["apiKeyHeader"]["in"], schemes["apiKeyHeader"]["name"]) == ("header", "X-API-Key")
    assert (schemes["apiKeyQuery"]["in"], schemes["apiKeyQuery"]["name"]) == ("query", "api_key")
    assert (schemes["adminToken"]["in"], schemes["adminToken"]["name"]) == ("header", "X-Admin-Token")
    assert document["paths"]["/health"]["get"]["security"] == []
    assert {"adminToken": [], "bearerAuth": []} in document["paths"]["/admin/sync"]["post"]["security"]
    envelope = document["components"]["schemas"]["ErrorEnvelope"]
    assert set(envelope["required"]) == {"status", "code", "message"} and "field" in envelope["properties"]
    # request models come from the validators' own pydantic models, bounds under their JSON Schema names
    importance = document["components"]["schemas"]["StoreMemory"]["properties"]["importance"]["anyOf"][0]
    assert (importance["minimum"], importance["maximum"]) == (0.0, 1.0)
    vector = document["components"]["schemas"]["StoreMemory"]["properties"]["embedding"]["anyOf"][0]
    assert vector["minItems"] == vector["maxItems"] == 384


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and not found.get("src"):
            self.inline.append("inline <script>")
        if tag == "style" or "style" in found or any(name.startswith("on") for name in found):
            self.inline.append(f"inline style or handler on <{tag}>")
        for name in ("src", "href"):
            if found.get(name):
                self.assets.append(str(found[name]))


def test_docs_page_loads_without_a_token_under_a_strict_csp(secured: FlaskClient) -> None:
    assert secured.get("/recall").status_code == 401  # the token is required elsewhere
    assert secured.get("/openapi.json").status_code == 200
    page = secured.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    parser = _Page()
    parser.feed(page.get_data(as_text=True))
    page.close()  # a file response: closing it closes the file
    assert parser.inline == []
    assert parser.assets and all("//" not in asset for asset in parser.assets)  # this origin only
    for asset in parser.assets:
        response = secured.get(f"/{asset}")  # relative to /docs
        assert response.status_code == 200, asset
        response.close()
    init = secured.get("/static/docs/init.js")
    assert "openapi.json" in init.get_data(as_text=True) and "validatorUrl: null" in init.get_data(as_text=True)
    init.close()
    vendored = Path(__file__).resolve().parent.parent / "loci" / "static" / "swagger-ui"
    assert "5.35.0" in (vendored / "README.md").read_text() and (vendored / "LICENSE").is_file()


def body_schema_error(document: dict[str, Any], path: str, method: str, status: int, body: Any) -> str | None:
    """Why `body` does not match what the document says `method path` answers with `status` (None: it does)."""
    response = document["paths"][path][method]["responses"][str(status)]
    schema = {**response["content"]["application/json"]["schema"], "components": document["components"]}
    errors = [error.message for error in jsonschema_rs.Draft202012Validator(schema).iter_errors(body)]
    return "; ".join(errors) or None


@pytest.fixture
def own_falkordb(tmp_path: Path) -> Iterator[FalkorDBServer]:
    server = FalkorDBServer(tmp_path / "own-falkordb").start()
    yield server
    server.stop()


def test_answers_with_the_graph_down_are_as_documented(
    own_falkordb: FalkorDBServer, make_app: Callable[..., Flask]
) -> None:
    """The fuzzing below never sees a store fail; these 503s are checked here."""
    client = make_app(falkordb_host=own_falkordb.host, falkordb_port=own_falkordb.port).test_client()
    document = client.get("/openapi.json").json
    own_falkordb.stop()
    health = client.get("/health")
    assert health.status_code == 503 and health.json["status"] == "unhealthy"
    assert body_schema_error(document, "/health", "get", 503, health.json) is None
    some_id = "00000000-0000-4000-8000-000000000000"
    for method, path, url in (("get", "/memory/{memory_id}", f"/memory/{some_id}"), ("post", "/memory", "/memory")):
        answer = client.open(url, method=method.upper(), json={"content": "during the outage"})
        assert answer.status_code == 503, answer.json
        assert body_schema_error(document, path, method, 503, answer.json) is None
    assert body_schema_error(document, "/health", "get", 200, {"status": "healthy"}) is not None  # it can fail
    own_falkordb.start()  # so the app's teardown can drop its graph


# --- the live service
@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("openapi")
    env = {"AUTOMEM_API_TOKEN": API_TOKEN, "ADMIN_API_TOKEN": ADMIN_TOKEN}
    with ServiceProcess(root / "data", root / "service.log", env) as svc:
        yield svc


def operation_of(method: str, url: str, templates: list[tuple[str, re.Pattern[str]]]) -> str | None:
    path = urlsplit(url).path  # the raw (still percent-encoded) path; httpx refuses URLs over 64 KiB
    for template, pattern in templates:
        if pattern.fullmatch(path):
            return f"{method.lower()} {template}"
    return None


def path_patterns(document: dict[str, Any]) -> list[tuple[str, re.Pattern[str]]]:
    """Each documented path as a regex; fixed paths first, as the router prefers them."""
    templates = sorted(document["paths"], key=lambda path: path.count("{"))
    return [(t, re.compile(re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(t)))) for t in templates]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_schemathesis_finds_no_5xx_and_no_answer_outside_the_document(service: ServiceProcess, tmp_path: Path) -> None:
    loaded = httpx.get(f"{service.base_url}/openapi.json", timeout=10)  # no token needed
    document = loaded.json()
    assert (
        loaded.status_code == 200
        and loaded.headers["content-type"] in document["paths"]["/openapi.json"]["get"]["responses"]["200"]["content"]
    )
    har = tmp_path / "run.har"
    command = [
        str(Path(sys.executable).parent / "st"),
        "run",
        f"{service.base_url}/openapi.json",
        f"--header=Authorization: Bearer {API_TOKEN}",
        f"--header=X-Admin-Token: {ADMIN_TOKEN}",
        f"--checks={','.join(CHECKS)}",
        *(f"--exclude-path={path}" for _, path in NOT_FUZZED),
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        "--workers=1",  # one at a time: with two, a hypothesis-internal race failed one run (a KeyError)
        "--request-timeout=30",
        "--report=har",
        f"--report-har-path={har}",
        "--output-truncate=false",
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=840, check=False)
    output = run.stdout[-20000:] + run.stderr[-5000:]
    assert run.returncode == 0, output

    entries = json.loads(har.read_text())["log"]["entries"]
    statuses = Counter(entry["response"]["status"] for entry in entries)
    assert len(entries) >= MIN_REQUESTS, (len(entries), output)
    assert not [status for status in statuses if status >= 500], statuses
    templates = path_patterns(document)
    per_operation = Counter(operation_of(e["request"]["method"], e["request"]["url"], templates) for e in entries)
    every = {f"{method} {path}" for path, item in document["paths"].items() for method in item}
    checked_apart = {f"{method} {path}" for method, path in (*NOT_FUZZED, SCHEMA_LOCATION)}
    untested = every - checked_apart - set(per_operation)
    assert not untested, untested


@pytest.mark.slow
def test_stream_answers_as_documented(service: ServiceProcess) -> None:
    document = httpx.get(f"{service.base_url}/openapi.json", timeout=10).json()
    responses = document["paths"]["/stream"]["get"]["responses"]
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    with (
        httpx.Client(base_url=service.base_url, timeout=10) as client,
        client.stream("GET", "/stream", headers=headers) as stream,
    ):
        assert str(stream.status_code) in responses
        assert stream.headers["content-type"].split(";")[0] in responses["200"]["content"]
        first = next(stream.iter_text())
        assert first.startswith(": connected")
    refused = httpx.get(f"{service.base_url}/stream", timeout=10)
    assert refused.status_code == 401 and "401" in responses
    assert refused.json()["status"] == "error"
