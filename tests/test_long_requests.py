"""Requests of any sensible size, through the real gunicorn worker, and POST /recall.

A request line up to LOCI_MAX_REQUEST_LINE_BYTES (64 KiB) is served: a 1,536-wide embedding
in a GET query string (about 30 KB) reaches recall and is validated there; a 70 KB line is
answered 414 in the JSON envelope and the connection closes cleanly. Every other rejection a
client can provoke below the routes (the front's or gunicorn's parser) is the envelope too.
POST /recall takes the same parameters as a JSON body and gives the same answer as GET.
"""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from service_process import ServiceProcess

from loci.config import EmbeddingProviderName
from tests.helpers import store
from tests.test_hostile_clients import assert_envelope, connect, read_response

TOKEN = "long-requests-token"
AUTH = f"Authorization: Bearer {TOKEN}\r\n"
DIMENSION = 384
"""The local model's dimension; the service runs the placeholder provider at it (no model to load)."""
MAX_LINE = 64 * 1024
MAX_BODY = 1024 * 1024


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("long")
    env = {
        "AUTOMEM_API_TOKEN": TOKEN,
        "EMBEDDING_PROVIDER": "placeholder",
        "VECTOR_SIZE": str(DIMENSION),
        "LOCI_MAX_REQUEST_BYTES": str(MAX_BODY),
    }
    with ServiceProcess(root / "data", root / "service.log", env) as svc:
        yield svc


@pytest.fixture
def api(service: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
        yield client


def vector(width: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(-1, 1) for _ in range(width)]


def request_line(path: str) -> int:
    return len(f"GET {path} HTTP/1.1")


def closes_cleanly(sock: socket.socket) -> bool:
    """After the answer the server ends the connection with a FIN: no reset, nothing more sent."""
    sock.settimeout(10)
    rest = b""
    while chunk := sock.recv(65536):
        rest += chunk
    return rest == b""


def refused(service: ServiceProcess, raw: bytes, code: int) -> dict[str, Any]:
    """Send `raw`, expect `code` in the envelope with the connection closed after it."""
    with connect(service) as sock:
        sock.sendall(raw)
        status, headers, body = read_response(sock)
        payload = assert_envelope(status, headers, body, code)
        assert headers["connection"].lower() == "close"
        assert closes_cleanly(sock)
    return payload


# --- long request lines through gunicorn
def test_a_30_kb_get_recall_reaches_recall_and_its_embedding_is_validated(
    service: ServiceProcess, api: httpx.Client
) -> None:
    """A 1,536-wide vector in the query string (about 30 KB) is read by recall, which names `embedding`
    because the store is 384-wide. Before, gunicorn answered 414 above 4,094 bytes."""
    path = "/recall?" + urlencode({"embedding": ",".join(f"{x:.12f}" for x in vector(1536, 1)), "limit": 5})
    assert 25_000 < request_line(path) < 35_000
    response = api.get(path)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["status"] == "error" and payload.get("field") == "embedding"
    assert "384" in payload["message"] and "1536" in payload["message"]


def test_a_30_kb_get_recall_by_embedding_returns_the_memory(service: ServiceProcess, api: httpx.Client) -> None:
    """A 384-wide vector written with every digit (about 30 KB) finds the memory stored with it; the
    connection is kept and serves the next request."""
    target = vector(DIMENSION, 2)
    stored = api.post("/memory", json={"content": "stored with its own vector", "embedding": target})
    assert stored.status_code == 201, stored.text
    memory_id = stored.json()["memory_id"]
    for seed in range(3, 6):
        assert api.post("/memory", json={"content": f"another {seed}", "embedding": vector(DIMENSION, seed)})
    digits = ",".join(f"{x:.72f}" for x in target)  # float() reads every digit; the line grows to ~30 KB
    path = "/recall?" + urlencode({"embedding": digits, "limit": 3})
    assert 28_000 < request_line(path) < MAX_LINE
    response = api.get(path)
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["id"] == memory_id
    assert response.json()["vector_search"]["matched"] >= 1
    by_body = api.post("/recall", json={"embedding": target, "limit": 3})  # the same connection, kept alive
    assert by_body.status_code == 200, by_body.text
    assert [r["id"] for r in by_body.json()["results"]] == [r["id"] for r in response.json()["results"]]


def test_the_request_line_limit_is_exact(service: ServiceProcess) -> None:
    """64 KiB of request line is served; one byte more is 414, whatever gunicorn's own limit was."""
    prefix = "/health?pad="
    at_limit = prefix + "x" * (MAX_LINE - request_line(prefix))
    assert request_line(at_limit) == MAX_LINE
    with connect(service) as sock:
        sock.sendall(f"GET {at_limit} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert read_response(sock)[0] == 200
    payload = refused(service, f"GET {at_limit}y HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 414)
    assert "LOCI_MAX_REQUEST_LINE_BYTES" in payload["message"] and "POST /recall" in payload["message"]


def test_a_70_kb_get_is_414_in_the_envelope_and_the_connection_closes_cleanly(
    service: ServiceProcess, api: httpx.Client
) -> None:
    path = "/recall?" + urlencode({"embedding": ",".join(f"{x:.20f}" for x in vector(3000, 7))})
    assert request_line(path) > 70_000
    refused(service, f"GET {path} HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode(), 414)
    assert api.get("/health").status_code == 200


def test_a_long_line_is_refused_before_it_ends(service: ServiceProcess) -> None:
    """The front answers 414 once the line passes the limit, without waiting for (or buffering) the rest."""
    with connect(service) as sock:
        sock.sendall(b"GET /recall?query=" + b"x" * (MAX_LINE + 100))  # no end of line yet
        status, headers, body = read_response(sock)
        assert_envelope(status, headers, body, 414)
        assert closes_cleanly(sock)


# --- every rejection below the routes, in the envelope
def head(line: str = "GET /health HTTP/1.1", *fields: str) -> bytes:
    return (line + "\r\n" + "".join(f"{field}\r\n" for field in fields) + "\r\n").encode("latin-1")


HOST = "Host: x"
CHUNKED = "Transfer-Encoding: chunked"
REJECTIONS: dict[str, tuple[bytes, int]] = {
    "bad request line": (b"GARBAGE\r\n\r\n", 400),
    "no HTTP version": (b"GET /health\r\nHost: x\r\n\r\n", 400),
    "invalid method character": (head("G@T /health HTTP/1.1", HOST), 400),
    "lower-case method": (head("get /health HTTP/1.1", HOST), 400),
    "HTTP/2.0 on an HTTP/1 connection": (head("GET /health HTTP/2.0", HOST), 400),
    "space in the target": (head("GET /hea lth HTTP/1.1", HOST), 400),
    "header without a colon": (head("GET /health HTTP/1.1", HOST, "NoColon"), 400),
    "space in a header name": (head("GET /health HTTP/1.1", HOST, "Bad Name: v"), 400),
    "NUL in a header value": (head("GET /health HTTP/1.1", HOST, "X-Bad: a\x00b"), 400),
    "obsolete line folding": (head("GET /health HTTP/1.1", HOST, "X-Folded: a", " b"), 400),
    "bare LF line ends": (b"GET /health HTTP/1.1\nHost: x\n\n", 400),
    "no Host": (head("GET /health HTTP/1.1"), 400),
    "two Hosts": (head("GET /health HTTP/1.1", HOST, "Host: y"), 400),
    "conflicting Content-Length": (
        head("POST /recall HTTP/1.1", HOST, "Content-Length: 2", "Content-Length: 3") + b"{}x",
        400,
    ),
    "non-numeric Content-Length": (head("POST /recall HTTP/1.1", HOST, "Content-Length: ten"), 400),
    "Content-Length and chunked": (
        head("POST /recall HTTP/1.1", HOST, "Content-Length: 7", CHUNKED) + b"2\r\n{}\r\n0\r\n\r\n",
        400,
    ),
    "bad chunk size": (head("POST /recall HTTP/1.1", HOST, CHUNKED) + b"zz\r\n{}\r\n0\r\n\r\n", 400),
    "chunk without its CRLF": (head("POST /recall HTTP/1.1", HOST, CHUNKED) + b"2\r\n{}XX0\r\n\r\n", 400),
    # h11 (the front) lets these through and gunicorn's parser refuses them: a 500 from inside the
    # application when it read the body, a second answer after its own when it did not
    "control character in a chunk extension": (
        head("POST /recall HTTP/1.1", HOST, CHUNKED) + b"2;\x01\r\n{}\r\n0\r\n\r\n",
        400,
    ),
    "unterminated quote in a chunk extension": (
        head("POST /recall HTTP/1.1", HOST, CHUNKED) + b'2;a="x\r\n{}\r\n0\r\n\r\n',
        400,
    ),
    "Content-Length as a trailer": (
        head("POST /recall HTTP/1.1", HOST, CHUNKED) + b"2\r\n{}\r\n0\r\nContent-Length: 5\r\n\r\n",
        400,
    ),
    "bad chunk extension in a body the route does not read": (
        head("GET /health HTTP/1.1", HOST, CHUNKED) + b"2;\x01\r\n{}\r\n0\r\n\r\n",
        400,
    ),
    "two Transfer-Encoding fields": (head("POST /recall HTTP/1.1", HOST, CHUNKED, CHUNKED) + b"0\r\n\r\n", 501),
    "unknown transfer coding": (head("POST /recall HTTP/1.1", HOST, "Transfer-Encoding: gzip"), 501),
    "unknown expectation": (head("POST /recall HTTP/1.1", HOST, "Expect: fancy", "Content-Length: 2") + b"{}", 417),
    "101 header fields": (head("GET /health HTTP/1.1", HOST, *(f"X-F{n}: v" for n in range(100))), 431),
    "one header field over 8190 bytes": (head("GET /health HTTP/1.1", HOST, "X-Big: " + "y" * 9000), 431),
    "header fields over 64 KiB together": (
        head("GET /health HTTP/1.1", HOST, *(f"X-F{n}: {'y' * 8000}" for n in range(9))),
        431,
    ),
    "declared body over the limit": (head("POST /recall HTTP/1.1", HOST, f"Content-Length: {MAX_BODY + 1}"), 413),
    "request line over 64 KiB": (head(f"GET /health?pad={'x' * MAX_LINE} HTTP/1.1", HOST), 414),
}


@pytest.mark.parametrize("case", list(REJECTIONS), ids=list(REJECTIONS))
def test_every_rejection_below_the_routes_is_the_envelope(
    service: ServiceProcess, api: httpx.Client, case: str
) -> None:
    raw, code = REJECTIONS[case]
    refused(service, raw, code)
    assert api.get("/health").status_code == 200


# --- POST /recall, in process
@pytest.fixture
def recall_app(make_app: Any) -> Flask:
    app: Flask = make_app(embedding_provider=EmbeddingProviderName.PLACEHOLDER, vector_size=DIMENSION)
    return app


@pytest.fixture
def recall_client(recall_app: Flask) -> FlaskClient:
    client = recall_app.test_client()
    texts = [
        ("PostgreSQL is the database of the billing service", ["project-billing", "db"]),
        ("The billing service deploys on Tuesdays", ["project-billing"]),
        ("Lisbon offsite in May", ["travel"]),
        ("Redis caches the billing sessions", ["project-billing", "db"]),
    ]
    ids = [store(client, text, tags=tags, embedding=vector(DIMENSION, 100 + n)) for n, (text, tags) in enumerate(texts)]
    linked = client.post("/associate", json={"memory1_id": ids[0], "memory2_id": ids[3], "type": "RELATES_TO"})
    assert linked.status_code == 201, linked.get_json()
    return client


def answer(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.json
    body.pop("query_time_ms")
    return body


SAME_PARAMETERS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"query": "billing database", "limit": "3"}, {"query": "billing database", "limit": 3}),
    (
        {"q": "billing", "tags": "project-billing,db", "tag_mode": "all"},
        {"q": "billing", "tags": ["project-billing", "db"], "tag_mode": "all"},
    ),
    (
        {"query": "billing", "tags": "db", "expand_relations": "yes"},
        {"query": "billing", "tags": "db", "expand_relations": True},
    ),
    (
        {"query": "billing", "sort": "time_desc", "exclude_tags": "travel"},
        {"query": "billing", "sort": "time_desc", "exclude_tags": ["travel"], "start": None},
    ),
    (
        {"queries": "billing,Lisbon", "current_only": "false"},
        {"queries": ["billing", "Lisbon"], "current_only": "false"},
    ),
]


@pytest.mark.parametrize(("query", "body"), SAME_PARAMETERS)
def test_post_recall_answers_as_get(recall_client: FlaskClient, query: dict[str, Any], body: dict[str, Any]) -> None:
    by_query = answer(recall_client.get("/recall", query_string=query))
    by_body = answer(recall_client.post("/recall", json=body))
    assert by_query["results"], by_query
    assert by_body == by_query


def test_post_recall_by_embedding_as_array_or_string_answers_as_get(recall_client: FlaskClient) -> None:
    target = vector(DIMENSION, 101)
    text = ",".join(repr(x) for x in target)
    by_query = answer(recall_client.get("/recall", query_string={"embedding": text, "limit": 2}))
    assert by_query["results"][0]["memory"]["content"] == "The billing service deploys on Tuesdays"
    assert answer(recall_client.post("/recall", json={"embedding": target, "limit": 2})) == by_query
    assert answer(recall_client.post("/recall", json={"embedding": text, "limit": 2})) == by_query


def test_post_recall_without_a_body_answers_as_get_without_parameters(recall_client: FlaskClient) -> None:
    assert answer(recall_client.post("/recall")) == answer(recall_client.get("/recall"))


BAD_BODIES: list[tuple[Any, str]] = [
    ({"limit": "many"}, "limit"),
    ({"limit": 2.5}, "limit"),
    ({"embedding": [0.1, 0.2]}, "embedding"),
    ({"embedding": "0.1,abc"}, "embedding"),
    ({"embedding": [True] * DIMENSION}, "embedding"),
    ({"sort": "sideways"}, "sort"),
    ({"expand_relations": "perhaps"}, "expand_relations"),
    ({"query": ["two", "queries"]}, "query"),
    ({"limit": [1, 2]}, "limit"),
    ({"tags": {"a": 1}}, "tags"),
    ({"start": "yesterday-ish"}, "start"),
    ({"start": "2025-02-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"}, "start"),
    ({"min_score": "high"}, "min_score"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_post_recall_names_the_bad_field(recall_client: FlaskClient, body: dict[str, Any], field: str) -> None:
    response = recall_client.post("/recall", json=body)
    payload = response.get_json()
    assert response.status_code == 400 and isinstance(payload, dict), payload
    assert payload["status"] == "error" and payload["code"] == 400
    assert payload.get("field") == field, payload
    assert f"'{field}'" in payload["message"]


@pytest.mark.parametrize("raw", [b"[1, 2]", b"{not json", b'"text"'])
def test_post_recall_refuses_a_body_that_is_not_an_object(recall_client: FlaskClient, raw: bytes) -> None:
    response = recall_client.post("/recall", data=raw, content_type="application/json")
    payload = response.get_json()
    assert response.status_code == 400 and isinstance(payload, dict) and payload["status"] == "error"


def test_get_and_post_recall_validate_alike(recall_client: FlaskClient) -> None:
    """The same bad value gives the same 400 by either route (one model validates both)."""
    for query, body in [({"limit": "x"}, {"limit": "x"}), ({"embedding": "1,2"}, {"embedding": [1, 2]})]:
        by_query, by_body = recall_client.get("/recall", query_string=query), recall_client.post("/recall", json=body)
        assert by_query.status_code == by_body.status_code == 400
        assert by_query.json == by_body.json, json.dumps([by_query.json, by_body.json])
