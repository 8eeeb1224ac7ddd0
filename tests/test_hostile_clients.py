"""Clients that misbehave, against the service under gunicorn: none of them takes it down.

Slow headers and slow bodies hold no request thread (the worker reads requests whole
first), event streams run in a pool of their own and free their slot within a second or
so of the client leaving, bodies over the limit are refused whether declared or chunked,
a keep-alive promise holds after a refusal, and the server's own errors are the JSON
envelope. Raw sockets, so the bytes on the wire are what is tested.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from service_process import ServiceProcess

from tests.helpers import wait_until

pytestmark = pytest.mark.slow

TOKEN = "hostile-test-token"
AUTH = f"Authorization: Bearer {TOKEN}\r\n"
JSON = "Content-Type: application/json\r\n"
MAX_BODY = 1024 * 1024


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("hostile")
    env = {
        "AUTOMEM_API_TOKEN": TOKEN,
        "EMBEDDING_PROVIDER": "placeholder",
        "VECTOR_SIZE": "8",
        "LOCI_MAX_REQUEST_BYTES": str(MAX_BODY),
        "LOCI_HEADER_TIMEOUT_SECONDS": "3",
        "LOCI_BODY_TIMEOUT_SECONDS": "3",
        "STREAM_MAX_SUBSCRIBERS": "4",
        "STREAM_KEEPALIVE_SECONDS": "30",
    }
    with ServiceProcess(root / "data", root / "service.log", env) as svc:
        yield svc


@pytest.fixture
def api(service: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client:
        yield client


def connect(service: ServiceProcess, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", service.port), timeout=timeout)


class SharedReader:
    """One buffered reader for several responses on a connection: each HTTPResponse would make its own and
    drop what it read ahead (the next pipelined response)."""

    def __init__(self, sock: socket.socket) -> None:
        self.file = sock.makefile("rb")

    def makefile(self, *_: object) -> Any:
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)

    def close(self) -> None:
        """A response is done, not the connection."""


def read_response(sock: socket.socket | SharedReader) -> tuple[int, dict[str, str], bytes]:
    response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
    response.begin()
    body = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def exchange(service: ServiceProcess, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(service) as sock:
        sock.sendall(raw)
        return read_response(sock)


def assert_envelope(status: int, headers: dict[str, str], body: bytes, code: int) -> dict[str, Any]:
    assert status == code, body
    assert headers["content-type"].startswith("application/json")
    payload: dict[str, Any] = json.loads(body)
    assert payload["status"] == "error" and payload["code"] == code and payload["message"]
    return payload


def health_within(service: ServiceProcess, seconds: float) -> float:
    """Seconds /health took (fails if it did not answer 200 within `seconds`)."""
    started = time.monotonic()
    with httpx.Client(base_url=service.base_url, timeout=seconds) as client:
        assert client.get("/health").status_code == 200
    return time.monotonic() - started


def trickle(
    count: int, service: ServiceProcess, first: bytes, every: float, stop: threading.Event
) -> Callable[[], None]:
    """Open `count` connections that send `first`, then one more byte every `every` seconds until `stop`."""
    sockets = [connect(service) for _ in range(count)]
    for sock in sockets:
        sock.sendall(first)

    def run() -> None:
        while not stop.wait(every):
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def close() -> None:
        stop.set()
        thread.join()
        for sock in sockets:
            sock.close()

    return close


def test_two_hundred_slow_header_clients_leave_health_answering(service: ServiceProcess, api: httpx.Client) -> None:
    stop = threading.Event()
    close = trickle(200, service, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ", 0.5, stop)
    try:
        took = [health_within(service, 5.0) for _ in range(10)]
        stored = api.post("/memory", json={"content": "stored while 200 clients dawdle"})
        assert stored.status_code == 201
    finally:
        close()
    assert max(took) < 5.0  # generous: /health answers in milliseconds; starved, it would not answer at all


def test_slow_bodies_with_a_valid_token_hold_no_thread(service: ServiceProcess, api: httpx.Client) -> None:
    head = f"POST /memory HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    stop = threading.Event()
    close = trickle(40, service, head.encode() + b'{"content": "', 0.5, stop)
    try:
        for _ in range(5):
            health_within(service, 5.0)
        assert api.post("/memory", json={"content": "a fast client is served"}).status_code == 201
    finally:
        close()


def test_clients_that_never_close_hold_nothing(service: ServiceProcess) -> None:
    """A response that closes its connection lingers for the client's FIN in the event loop, never blocking it."""
    idle = []
    for _ in range(10):
        sock = connect(service)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        idle.append(sock)  # read nothing, close nothing
    try:
        for _ in range(5):
            assert health_within(service, 3.0) < 3.0
    finally:
        for sock in idle:
            sock.close()


def test_headers_that_never_finish_get_408_in_the_envelope(service: ServiceProcess) -> None:
    with connect(service) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        status, headers, body = read_response(sock)
    assert_envelope(status, headers, body, 408)
    assert headers["connection"] == "close"


def test_a_body_that_never_finishes_gets_408(service: ServiceProcess) -> None:
    with connect(service) as sock:
        sock.sendall(f"POST /memory HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 100\r\n\r\n{{".encode())
        status, headers, body = read_response(sock)
    assert "body" in assert_envelope(status, headers, body, 408)["message"]


def chunked(total: int, piece: int = 64 * 1024) -> bytes:
    out, sent = bytearray(b'{"content": "'), 0
    chunks = []
    data = bytes(out) + b"x" * (total - len(out))
    while sent < len(data):
        part = data[sent : sent + piece]
        chunks.append(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        sent += len(part)
    return b"".join(chunks) + b"0\r\n\r\n"


def test_a_chunked_body_over_the_limit_is_413_and_stores_nothing(service: ServiceProcess, api: httpx.Client) -> None:
    before = api.get("/health").json()["memory_count"]
    head = f"POST /memory HTTP/1.1\r\nHost: x\r\n{AUTH}{JSON}Transfer-Encoding: chunked\r\n\r\n"
    status, headers, body = exchange(service, head.encode() + chunked(MAX_BODY + 200_000))
    assert "LOCI_MAX_REQUEST_BYTES" in assert_envelope(status, headers, body, 413)["message"]
    declared = f"POST /memory HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: {MAX_BODY + 1}\r\n\r\n"
    assert_envelope(*exchange(service, declared.encode()), 413)
    assert api.get("/health").json()["memory_count"] == before


def test_a_chunked_body_within_the_limit_is_stored(service: ServiceProcess, api: httpx.Client) -> None:
    content = "chunked but fine"
    payload = json.dumps({"content": content}).encode()
    body = f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n"
    head = f"POST /memory HTTP/1.1\r\nHost: x\r\n{AUTH}{JSON}Transfer-Encoding: chunked\r\n\r\n"
    status, _, answer = exchange(service, head.encode() + body)
    assert status == 201, answer
    assert api.get(f"/memory/{json.loads(answer)['memory_id']}").json()["memory"]["content"] == content


REFUSALS = {
    "401 wrong token": ("POST", "/memory", "Authorization: Bearer wrong\r\n", 401),
    "404 unknown route": ("POST", "/no-such-route", AUTH, 404),
    "405 wrong method": ("PUT", "/recall", AUTH, 405),
    "400 bad Idempotency-Key": ("POST", "/memory", AUTH + f"Idempotency-Key: {'k' * 300}\r\n", 400),
}


@pytest.mark.parametrize("case", list(REFUSALS), ids=list(REFUSALS))
def test_a_keep_alive_promise_holds_after_a_refusal_of_an_unread_body(service: ServiceProcess, case: str) -> None:
    method, path, auth, code = REFUSALS[case]
    body = b"x" * (200 * 1024)  # far over gunicorn's 64 KiB drain
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}{JSON}Content-Length: {len(body)}\r\n\r\n"
    with connect(service) as sock:
        sock.sendall(head.encode("latin-1") + body)
        status, headers, answer = read_response(sock)
        assert_envelope(status, headers, answer, code)
        assert headers.get("connection", "keep-alive").lower() == "keep-alive"
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")  # the same connection, as promised
        status, _, _ = read_response(sock)
    assert status == 200


def test_pipelined_requests_are_all_answered(service: ServiceProcess) -> None:
    with connect(service) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        reader = SharedReader(sock)
        assert [read_response(reader)[0] for _ in range(3)] == [200, 200, 200]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"GET /recall?query=" + b"x" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n", 431),
        (b"GARBAGE\r\n\r\n", 400),
    ],
    ids=["414 long request line", "431 huge header", "400 bad request line"],
)
def test_the_servers_own_errors_are_the_envelope(service: ServiceProcess, raw: bytes, code: int) -> None:
    assert_envelope(*exchange(service, raw), code)


@pytest.mark.parametrize("path", ["//memory", "//recall?query=x", "/memory//x"])
def test_doubled_slashes_are_not_redirected(service: ServiceProcess, path: str) -> None:
    """werkzeug answered a 308 (HTML) to the merged path, which a client would follow with its body and token."""
    status, headers, _ = exchange(service, f"GET {path} HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode())
    assert not 300 <= status < 400 and "location" not in headers
    assert headers["content-type"].startswith("application/json")


def open_stream(service: ServiceProcess) -> tuple[socket.socket, int]:
    sock = connect(service)
    sock.sendall(f"GET /stream HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, int(head.split(b" ", 2)[1])


def test_streams_take_no_request_thread_and_free_their_slot_when_closed(service: ServiceProcess) -> None:
    streams = [open_stream(service) for _ in range(4)]
    try:
        assert [status for _, status in streams] == [200] * 4
        stop = threading.Event()
        close = trickle(16, service, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ", 0.5, stop)
        try:  # 4 streams and 16 slow clients: the 16 request threads are still free
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda _: health_within(service, 5.0), range(16)))
        finally:
            close()
        extra, status = open_stream(service)
        extra.close()
        assert status == 503  # the fifth subscriber is refused at once
    finally:
        for sock, _ in streams:
            sock.close()

    def a_slot_is_free() -> bool:
        sock, status = open_stream(service)
        sock.close()
        return status == 200

    # closed streams free their slots within about a second
    wait_until(a_slot_is_free, 5.0, what="closed streams to free their slots", every=0.2)


def test_the_stream_refusal_says_when_to_retry(service: ServiceProcess) -> None:
    streams = [open_stream(service) for _ in range(4)]
    try:
        with connect(service) as sock:
            sock.sendall(f"GET /stream HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode())
            status, headers, body = read_response(sock)
    finally:
        for stream, _ in streams:
            stream.close()
    assert_envelope(status, headers, body, 503)
    assert int(headers["retry-after"]) >= 1


def test_an_open_stream_does_not_hold_a_clean_stop(tmp_path_factory: pytest.TempPathFactory) -> None:
    """SIGTERM ends the streams, so the worker exits in time and closes the stores (FalkorDB stopped cleanly)."""
    root = tmp_path_factory.mktemp("stop")
    service = ServiceProcess(root / "data", root / "service.log", {"EMBEDDING_PROVIDER": "placeholder"}).start()
    stream, status = open_stream(service)
    try:
        assert status == 200
        started = time.monotonic()
        service.stop()
        took = time.monotonic() - started
    finally:
        stream.close()
    assert took < 25, took  # gunicorn's graceful timeout is 30 s: past it the worker is killed
    assert '"event": "falkordb.stopped"' in service.log_tail(20_000)
