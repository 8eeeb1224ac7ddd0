"""Reading a whole HTTP/1.1 request before a thread takes it: the buffering front of the worker.

gunicorn's threaded worker hands a connection to a request thread as soon as its first
byte arrives; the thread then blocks reading the rest. A client that sends its headers or
its body slowly holds that thread, and twenty such clients took the service offline. So
the worker's event loop reads each request first, without blocking, until it is complete
(h11, the sans-I/O HTTP/1.1 parser, says where a request ends, chunked bodies included),
and only then hands the connection to a thread, whose reads are then served from memory.

- `RequestFramer` feeds received bytes to h11 and says: incomplete, complete, or refused
  (`Refusal`, with the status: 400 malformed, 413 body over the limit, 414 request line over
  LOCI_MAX_REQUEST_LINE_BYTES, 431 headers too large). These are Loci's limits on the head of
  a request; the worker lifts gunicorn's own (4094-byte line, 8190-byte field, 100 fields) so
  that they never cut below them.
- `BufferedSocket` wraps the client socket: `recv` serves the buffered request first, and
  sends, once the request is handed over, time out instead of blocking for ever on a
  client that does not read its response.
- `error_response` is the raw HTTP answer the front sends itself, in the API's JSON envelope.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from enum import Enum
from http import HTTPStatus
from typing import Any

import h11

MAX_HEADER_BYTES = 64 * 1024
"""The header fields together, request line apart (its limit is LOCI_MAX_REQUEST_LINE_BYTES)."""
MAX_HEADER_FIELD_BYTES = 8190
"""One header field, `Name: value`: what nginx and gunicorn allow by default (a bearer token fits)."""
MAX_HEADER_FIELDS = 100
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Framing(Enum):
    INCOMPLETE = "incomplete"
    COMPLETE = "complete"
    CLOSED = "closed"
    """The client closed the connection before sending a request."""


@dataclass(frozen=True)
class Refusal(Exception):
    """The request cannot be served: answer `status` with `message` and close."""

    status: int
    message: str


class RequestFramer:
    """Finds the end of one request in the bytes received so far, enforcing Loci's size limits."""

    def __init__(self, max_body_bytes: int, max_line_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes
        self.max_line_bytes = max_line_bytes
        # the head whole (line, headers, their CRLFs) is buffered at most this; beyond, h11 refuses (431)
        head_bytes = max_line_bytes + MAX_HEADER_BYTES + 4
        self._parser = h11.Connection(h11.SERVER, max_incomplete_event_size=head_bytes)
        self.request: h11.Request | None = None
        self.received = 0
        self.body_bytes = 0
        self._line_bytes = 0
        """Bytes of the request line received so far (its CR included), until its LF arrives."""
        self._line_done = False

    @property
    def headers_done(self) -> bool:
        return self.request is not None

    @property
    def wants_continue(self) -> bool:
        """The client waits for `100 Continue` before it sends the body."""
        return bool(self._parser.they_are_waiting_for_100_continue)

    @property
    def path(self) -> str:
        if self.request is None:
            return ""
        return self.request.target.split(b"?", 1)[0].decode("latin-1")

    def feed(self, data: bytes) -> Framing:
        """Take received bytes (b"" when the client closed); raise `Refusal` for a request not to serve."""
        self.received += len(data)
        if not self._line_done:
            self._check_request_line(data)
        self._parser.receive_data(data)
        while True:
            try:
                event = self._parser.next_event()
            except h11.RemoteProtocolError as exc:
                if exc.error_status_hint == 431:
                    raise Refusal(431, f"Request headers exceed {MAX_HEADER_BYTES} bytes") from None
                raise Refusal(exc.error_status_hint, f"Malformed HTTP request: {exc}") from None
            if event is h11.NEED_DATA:
                return Framing.INCOMPLETE
            if isinstance(event, h11.Request):
                self.request = event
                _check_headers(event)
                self._check_declared_length(event)
            elif isinstance(event, h11.Data):
                self.body_bytes += len(event.data)
                if self.body_bytes > self.max_body_bytes:
                    raise self._too_large()
            elif isinstance(event, h11.EndOfMessage):
                return Framing.COMPLETE
            elif isinstance(event, h11.ConnectionClosed):
                if self.received:
                    raise Refusal(400, "Malformed HTTP request: the connection closed mid-request")
                return Framing.CLOSED
            else:  # PAUSED cannot come before the end of the first request
                return Framing.COMPLETE

    def _check_request_line(self, data: bytes) -> None:
        """414 as soon as the line is known to be too long, before it ends: a client cannot make the
        front buffer more than the limit of it. Only the new bytes are searched (a trickled line stays linear)."""
        end = data.find(b"\n")
        self._line_bytes += len(data) if end < 0 else end
        if self._line_bytes > self.max_line_bytes + 1:  # + the CR before its LF
            raise Refusal(
                414,
                f"Request line exceeds the limit of {self.max_line_bytes} bytes (LOCI_MAX_REQUEST_LINE_BYTES); "
                "send large parameters in a JSON body instead (POST /recall takes every recall parameter)",
            )
        self._line_done = end >= 0

    def _check_declared_length(self, request: h11.Request) -> None:
        for name, value in request.headers:
            if name == b"content-length" and int(value) > self.max_body_bytes:
                raise self._too_large()

    def _too_large(self) -> Refusal:
        return Refusal(413, f"Request body exceeds the limit of {self.max_body_bytes} bytes (LOCI_MAX_REQUEST_BYTES)")


def _check_headers(request: h11.Request) -> None:
    """431 for more header fields than MAX_HEADER_FIELDS, one over MAX_HEADER_FIELD_BYTES, or all together
    over MAX_HEADER_BYTES."""
    fields = request.headers.raw_items()
    if len(fields) > MAX_HEADER_FIELDS:
        raise Refusal(431, f"Request has {len(fields)} header fields; at most {MAX_HEADER_FIELDS} are accepted")
    total = 0
    for name, value in fields:
        size = len(name) + 2 + len(value)
        if size > MAX_HEADER_FIELD_BYTES:
            field = name.decode("latin-1")
            raise Refusal(431, f"Request header field '{field}' exceeds {MAX_HEADER_FIELD_BYTES} bytes")
        total += size
    if total > MAX_HEADER_BYTES:
        raise Refusal(431, f"Request headers exceed {MAX_HEADER_BYTES} bytes")


def error_response(status: int, message: str, extra_headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 response carrying the API's error envelope; the connection closes after it."""
    body = json.dumps({"status": "error", "code": status, "message": message}).encode()
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "close",
        **(extra_headers or {}),
    }
    head = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


class BufferedSocket:
    """A client socket whose received-but-unparsed bytes are served first.

    Everything not defined here is the real socket's (fileno, shutdown, getpeername...),
    so gunicorn's parser, responses and selectors use it as they would the socket.
    """

    def __init__(self, sock: socket.socket, send_timeout: float) -> None:
        self._sock = sock
        self._buffer = bytearray()
        self.send_timeout = send_timeout
        self.continue_sent = False
        """The front already answered `Expect: 100-continue`; gunicorn's own 100 is then not sent again."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    @property
    def real(self) -> socket.socket:
        return self._sock

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def take_buffered(self) -> bytes:
        data, self._buffer = bytes(self._buffer), bytearray()
        return data

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def unread(self, data: bytes) -> None:
        """Put bytes back in front (read ahead by the parser into the next request)."""
        self._buffer[:0] = data

    def recv(self, size: int, flags: int = 0) -> bytes:
        if not self._buffer:
            return self._sock.recv(size, flags)
        data = bytes(self._buffer[:size])
        if not flags & socket.MSG_PEEK:
            del self._buffer[:size]
        return data

    def setblocking(self, flag: bool) -> None:
        # a request thread's socket: bounded waits, so a client that stops reading cannot hold the thread
        self._sock.settimeout(self.send_timeout if flag else 0.0)

    def send(self, data: bytes, flags: int = 0) -> int:
        if self.continue_sent and data == CONTINUE:
            self.continue_sent = False
            return len(data)
        return self._sock.send(data, flags)

    def sendall(self, data: bytes, flags: int = 0) -> None:
        if self.continue_sent and data == CONTINUE:
            self.continue_sent = False
            return
        self._sock.sendall(data, flags)

    def close(self) -> None:
        self._buffer.clear()
        self._sock.close()
