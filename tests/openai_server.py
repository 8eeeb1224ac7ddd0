"""A local OpenAI-compatible embeddings server for tests (the remote API cannot run here).

It speaks the real protocol the `openai` client uses: `POST /v1/chat/completions`
(answering `chat_reply`), and `POST /v1/embeddings` with
`input`, `model`, optional `dimensions` and `encoding_format` (`base64` by default from
the client: little-endian float32). Vectors are hashed bags of words, so texts sharing
words are similar, and they are deterministic.

Faults are scripted: `fail_next(n, status, retry_after=None)` makes the next n requests
fail; `fail_always` keeps failing; `latency` delays every embeddings answer, `chat_latency`
every chat answer. Every request is recorded in `requests`, and `max_in_flight` tells how
many were answered at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


def bag_of_words_vector(text: str, dimension: int) -> list[float]:
    vector = np.zeros(dimension, dtype=np.float32)
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        slot = int.from_bytes(hashlib.sha1(word.encode()).digest()[:4], "little") % dimension
        vector[slot] += 1.0
    norm = float(np.linalg.norm(vector))
    if norm == 0:
        vector[0] = 1.0
        norm = 1.0
    return (vector / norm).tolist()


@dataclass
class Fault:
    status: int
    retry_after: float | None = None


@dataclass
class OpenAIStub:
    """State shared with the handler threads."""

    dimension: int = 384
    latency: float = 0.0
    fail_always: Fault | None = None
    wrong_dimension: bool = False
    chat_reply: str = '{"type": "Insight", "confidence": 0.8}'
    chat_latency: float = 0.0
    """Seconds every chat answer is held back (a slow model)."""
    reject_text: str | None = None
    """Answer 400 to any embeddings request with an input containing this text."""
    malformed: bool = False
    """Answer 200 with `data: null`, as a broken gateway might."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    """The most embeddings requests this server was answering at the same time."""
    _faults: deque[Fault] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int, status: int = 503, retry_after: float | None = None) -> None:
        with self._lock:
            self._faults.extend(Fault(status, retry_after) for _ in range(count))

    def next_fault(self) -> Fault | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
        return self.fail_always

    def record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append({**body, "at": time.monotonic()})

    @contextmanager
    def answering(self) -> Iterator[None]:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    stub: OpenAIStub
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this, +40 ms per answer

    def log_message(self, *args: Any) -> None:  # keep test output clean
        return

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path.rstrip("/").endswith("/chat/completions"):
            self._chat(body)
            return
        if self.path.rstrip("/") not in ("/v1/embeddings", "/embeddings"):
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            return
        self.stub.record(body)
        with self.stub.answering():
            self._embeddings(body)

    def _embeddings(self, body: dict[str, Any]) -> None:
        if self.stub.latency:
            time.sleep(self.stub.latency)
        fault = self.stub.next_fault()
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            self._send(
                fault.status,
                {"error": {"message": f"scripted failure {fault.status}", "type": "server_error"}},
                headers,
            )
            return
        if self.stub.malformed:
            self._send(200, {"object": "list", "data": None, "model": "stub"})
            return
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if self.stub.reject_text and any(self.stub.reject_text in str(text) for text in texts):
            self._send(400, {"error": {"message": "input rejected", "type": "invalid_request_error"}})
            return
        dimension = int(body.get("dimensions") or self.stub.dimension)
        if self.stub.wrong_dimension:
            dimension += 1
        data = []
        for index, text in enumerate(texts):
            vector = bag_of_words_vector(str(text), dimension)
            if body.get("encoding_format") == "base64":
                embedding: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        self._send(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "stub"),
                "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
            },
        )

    def _chat(self, body: dict[str, Any]) -> None:
        self.stub.record(body)
        if self.stub.chat_latency:
            time.sleep(self.stub.chat_latency)
        fault = self.stub.next_fault()
        if fault is not None:
            self._send(fault.status, {"error": {"message": f"scripted failure {fault.status}", "type": "server_error"}})
            return
        message = {"role": "assistant", "content": self.stub.chat_reply}
        self._send(
            200,
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "stub"),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )


class OpenAIServer:
    """Runs the stub on 127.0.0.1 in a background thread; use as a context manager."""

    def __init__(self, stub: OpenAIStub | None = None) -> None:
        self.stub = stub or OpenAIStub()
        handler = type("Handler", (_Handler,), {"stub": self.stub})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
