"""LociWorker: gunicorn's threaded worker with a buffering front, so no client can hold a request thread.

The event loop reads each request whole before a thread takes it (loci/serving/framing.py):
- headers must arrive within LOCI_HEADER_TIMEOUT_SECONDS and the body within
  LOCI_BODY_TIMEOUT_SECONDS (408 otherwise); a connection that sends nothing is closed;
- a body over LOCI_MAX_REQUEST_BYTES is refused with 413 as soon as that is known, whether
  the client declared its length or sent it chunked; a request line over
  LOCI_MAX_REQUEST_LINE_BYTES with 414, headers over the front's limits with 431 (gunicorn's
  own, lower, limits are lifted: the front's are the ones that apply);
- `GET /stream` subscribers run in a pool of their own (STREAM_MAX_SUBSCRIBERS threads; one
  more is answered 503 at once), so they never take a request thread, and `/health` has two
  threads of its own, so it answers even while every request thread waits on a stalled store;
- bodies being received are held in memory up to LOCI_MAX_BUFFERED_BYTES together, until
  their request is answered (503 for a body beyond that; requests without one are never
  refused for it);
- every error the server answers itself (the front's, and gunicorn's 400/414/431) is the
  API's JSON envelope, and a connection that closes (refused, or its response said so) is
  read and discarded for a short linger in the event loop, never blocking it, so the client
  reads the answer instead of a reset;
- a response said `Connection: keep-alive` only if the connection really stays open: the
  body the application did not read is in memory, so it is always discarded in full.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import selectors
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from gunicorn.http import errors as http_errors
from gunicorn.http.body import Body
from gunicorn.workers.gthread import TConn, ThreadWorker

from loci.config import Settings
from loci.serving.framing import (
    CONTINUE,
    MAX_HEADER_BYTES,
    BufferedSocket,
    Framing,
    Refusal,
    RequestFramer,
    error_response,
)

STREAM_PATH = "/stream"
"""The server-sent events route (loci/api/stream.py): long-lived, so served from its own pool."""
HEALTH_PATH = "/health"
"""Served from a small pool of its own: a platform's health check must not queue behind requests."""
HEALTH_THREADS = 2
LINGER_SECONDS = 2.0
"""How long a refused connection is read and discarded before it is closed."""
LINGER_MAX_BYTES = 1 << 20
RECV_BYTES = 256 * 1024
GUNICORN_MAX_FIELDS = 32768
"""gunicorn's ceiling for limit_request_fields (the front allows MAX_HEADER_FIELDS)."""

GUNICORN_ERRORS: tuple[tuple[type[Exception], int], ...] = (
    (http_errors.InvalidResponseHeader, 500),  # a header the application sent: its fault, not the client's
    (http_errors.InvalidResponseHeaderName, 500),
    (http_errors.ConfigurationProblem, 500),
    (http_errors.LimitRequestLine, 414),
    (http_errors.LimitRequestHeaders, 431),
    (http_errors.UnsupportedTransferCoding, 501),
    (http_errors.ExpectationFailed, 417),
    (http_errors.ForbiddenProxyRequest, 403),
    (http_errors.ParseException, 400),
)
"""gunicorn's parser errors and the status each is answered with (everything else a server error: 500)."""


@dataclass(frozen=True)
class FrontLimits:
    header_seconds: float
    body_seconds: float
    max_body_bytes: int
    max_line_bytes: int
    max_buffered_bytes: int
    stream_slots: int

    @classmethod
    def from_settings(cls, settings: Settings) -> FrontLimits:
        return cls(
            header_seconds=settings.header_timeout_seconds,
            body_seconds=settings.body_timeout_seconds,
            max_body_bytes=settings.max_request_bytes,
            max_line_bytes=settings.max_request_line_bytes,
            max_buffered_bytes=settings.max_buffered_bytes,
            stream_slots=settings.stream_max_subscribers,
        )


class LociConn(TConn):
    """A client connection and where its current request stands."""

    sock: BufferedSocket

    def __init__(self, cfg: Any, sock: BufferedSocket, client: Any, server: Any) -> None:
        super().__init__(cfg, sock, client, server)
        self.framer: RequestFramer | None = None
        self.deadline = 0.0
        self.counted = 0
        """Bytes of this connection counted against LOCI_MAX_BUFFERED_BYTES."""
        self.pool = ""
        """Which side pool ("stream", "health") runs its current request; "" for the request threads."""
        self.drained = 0


class LociWorker(ThreadWorker):
    """gthread, with requests read whole by the event loop and streams in a pool of their own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = FrontLimits.from_settings(Settings.from_env(os.environ))
        lift_gunicorn_limits(self.cfg)
        self.framing: set[LociConn] = set()
        self.lingering: set[LociConn] = set()
        self.buffered = 0
        self.streams: set[LociConn] = set()
        self.side_pools: dict[str, ThreadPoolExecutor] = {}

    def init_process(self) -> None:
        self.side_pools = {
            "stream": ThreadPoolExecutor(self.limits.stream_slots, thread_name_prefix="loci-stream"),
            "health": ThreadPoolExecutor(HEALTH_THREADS, thread_name_prefix="loci-health-http"),
        }
        super().init_process()

    # --- the front: read a request whole, in the event loop
    def accept(self, listener: socket.socket) -> None:
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = LociConn(self.cfg, BufferedSocket(client, self.limits.body_seconds), address, listener.getsockname())
        self.start_framing(conn)

    def on_client_socket_readable(self, conn: LociConn, client: Any) -> None:
        """A kept-alive connection sends its next request: read it whole first."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self.start_framing(conn)

    def start_framing(self, conn: LociConn) -> None:
        """Read the connection's next request; it usually arrived with the connection or its readiness,
        so it is read at once, and the connection waits in the poller only when it is incomplete."""
        conn.sock.setblocking(False)
        conn.framer = RequestFramer(self.limits.max_body_bytes, self.limits.max_line_bytes)
        conn.deadline = time.monotonic() + self.limits.header_seconds
        self.framing.add(conn)
        early = conn.sock.take_buffered()  # a pipelined request read ahead with the previous one
        if early:
            self.take_bytes(conn, early)
        if conn in self.framing:
            self.on_request_bytes(conn, None)
        if conn in self.framing:
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_request_bytes, conn))

    def on_request_bytes(self, conn: LociConn, _: Any) -> None:
        try:
            data = conn.sock.real.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.drop(conn)
            return
        self.take_bytes(conn, data)

    def take_bytes(self, conn: LociConn, data: bytes) -> None:
        assert conn.framer is not None
        if conn.framer.headers_done and self.buffered + len(data) > self.limits.max_buffered_bytes:
            self.refuse(conn, Refusal(503, "The server is busy receiving other requests; retry shortly"))
            return
        conn.sock.feed(data)
        conn.counted += len(data)
        self.buffered += len(data)
        had_headers = conn.framer.headers_done
        try:
            state = conn.framer.feed(data)
        except Refusal as refusal:
            self.refuse(conn, refusal)
            return
        if state is Framing.CLOSED:
            self.drop(conn)
            return
        if conn.framer.headers_done and not had_headers:
            conn.deadline = time.monotonic() + self.limits.body_seconds
            if conn.framer.wants_continue:
                self.send_quietly(conn, CONTINUE)
                conn.sock.continue_sent = True
        if state is Framing.COMPLETE:
            self.dispatch(conn)

    def dispatch(self, conn: LociConn) -> None:
        """The request is all here: a thread takes it, reading from memory."""
        assert conn.framer is not None
        self.stop_framing(conn)
        path, conn.framer = conn.framer.path, None  # its parser is done; the bytes are in conn.sock
        conn.pool = {STREAM_PATH: "stream", HEALTH_PATH: "health"}.get(path, "")
        if conn.pool == "stream" and len(self.streams) >= self.limits.stream_slots:
            limit = self.limits.stream_slots
            self.refuse(conn, Refusal(503, f"At most {limit} event streams at once (STREAM_MAX_SUBSCRIBERS)"))
            return
        conn.data_ready = True
        self.enqueue_req(conn)

    def stop_framing(self, conn: LociConn) -> None:
        self.framing.discard(conn)
        self.unregister(conn)

    def release(self, conn: LociConn) -> None:
        """Its request bytes no longer count against LOCI_MAX_BUFFERED_BYTES (answered, refused or gone)."""
        self.buffered -= conn.counted
        conn.counted = 0

    def unregister(self, conn: LociConn) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.poller.unregister(conn.sock)

    # --- refusals and closing
    def refuse(self, conn: LociConn, refusal: Refusal) -> None:
        """Answer in the envelope, then close (lingering)."""
        self.stop_framing(conn)
        headers = {"Retry-After": "5"} if refusal.status == 503 else None
        self.send_quietly(conn, error_response(refusal.status, refusal.message, headers))
        self.close_lingering(conn)

    def close_lingering(self, conn: LociConn) -> None:
        """Send FIN, then read and discard what the client still sends for a moment before closing: closing
        with unread data would reset the connection and lose the answer. In the event loop, never blocking."""
        self.release(conn)
        try:
            conn.sock.real.shutdown(socket.SHUT_WR)
        except OSError:
            self.drop(conn)
            return
        conn.deadline, conn.drained = time.monotonic() + LINGER_SECONDS, 0
        self.lingering.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_linger_bytes, conn))

    def on_linger_bytes(self, conn: LociConn, _: Any) -> None:
        try:
            data = conn.sock.real.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        conn.drained += len(data)
        if not data or conn.drained > LINGER_MAX_BYTES:
            self.drop(conn)

    def send_quietly(self, conn: LociConn, data: bytes) -> None:
        with contextlib.suppress(OSError):
            conn.sock.real.send(data)  # small: fits the socket's send buffer

    def drop(self, conn: LociConn) -> None:
        self.release(conn)
        if conn in self.framing:
            self.stop_framing(conn)
        if conn in self.lingering:
            self.lingering.discard(conn)
            self.unregister(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Every loop pass: requests that missed their deadline get 408, silent connections are closed."""
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c in self.framing if c.deadline < now]:
            assert conn.framer is not None
            if conn.framer.received == 0:
                self.drop(conn)
            else:
                part = "body" if conn.framer.headers_done else "headers"
                self.refuse(conn, Refusal(408, f"The request {part} did not arrive in time"))
        for conn in [c for c in self.lingering if c.deadline < now]:
            self.drop(conn)

    # --- threads
    def enqueue_req(self, conn: LociConn) -> None:
        pool: ThreadPoolExecutor = self.side_pools[conn.pool] if conn.pool else self.tpool
        if conn.pool == "stream":
            self.streams.add(conn)
        future = pool.submit(self.handle, conn)
        future.add_done_callback(lambda done: self.method_queue.defer(self.finish_request, conn, done))

    def finish_request(self, conn: LociConn, future: Future[Any]) -> None:
        self.release(conn)
        self.streams.discard(conn)
        conn.pool = ""
        kept = not future.cancelled() and future.exception() is None and future.result() is True
        if not kept:
            self.close_lingering(conn)
            return
        if self.alive:
            leftover = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
            conn.sock.unread(leftover)
            if conn.sock.buffered:  # the client already sent its next request
                self.start_framing(conn)
                return
        super().finish_request(conn, future)  # back to the poller, kept alive

    def handle_request(self, req: Any, conn: LociConn) -> bool:
        """Read the body through gunicorn's parser before the application runs. It is in memory already,
        but that parser refuses some chunk extensions and trailers that h11 (the front) lets through: read
        by the application, the refusal was a 500 from inside it; left unread, a second answer after its
        own. Read here, it is a 400 in the envelope (`handle_error`) and the connection closes."""
        req.body = Body(io.BytesIO(req.body.read()))
        return bool(super().handle_request(req, conn))

    def _keepalive_after(self, conn: LociConn, keepalive: bool) -> bool:
        """Discard the unread body (it is in memory), so a keep-alive promise holds whatever its size."""
        if not keepalive:
            return False
        limit = self.limits.max_body_bytes + MAX_HEADER_BYTES
        return bool(conn.parser.finish_body(deadline=time.monotonic() + 1.0, max_bytes=limit))

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: end the event streams too (each notices its socket closed within a second), or their
        threads would hold the process past its graceful timeout and the stores would not be closed cleanly."""
        super().handle_exit(sig, frame)
        for conn in list(self.streams):
            with contextlib.suppress(OSError):
                conn.sock.real.shutdown(socket.SHUT_RDWR)
        for pool in self.side_pools.values():
            pool.shutdown(wait=False, cancel_futures=True)

    def handle_quit(self, sig: int, frame: Any) -> None:
        for pool in self.side_pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        super().handle_quit(sig, frame)

    # --- gunicorn's own errors, in the envelope
    def handle_error(self, req: Any, client: Any, addr: Any, exc: Exception) -> None:
        status = next((code for kind, code in GUNICORN_ERRORS if isinstance(exc, kind)), 500)
        if status == 500:
            self.log.exception("Error handling request")
            message = "Internal server error"
        else:
            self.log.info("Invalid request from %s: %s", (addr or ("",))[0], exc)
            message = _client_message(status, exc)
        try:
            client.setblocking(False)
            client.send(error_response(status, message))
        except OSError:
            self.log.debug("Failed to send error message.")


def lift_gunicorn_limits(cfg: Any) -> None:
    """gunicorn's parser reads each request after the front has checked it; its own limits (a 4094-byte
    line at most 8190, 8190-byte fields, 100 fields) would refuse what the front accepts. Here, in the
    worker rather than in a config file, so they are lifted whatever configuration gunicorn was started with.
    0 is "unlimited" for the line; for the field size gunicorn 27 reads 0 as its default of 8190, so the
    front's block limit is given instead; 32768 is the most fields gunicorn takes."""
    cfg.set("limit_request_line", 0)
    cfg.set("limit_request_field_size", MAX_HEADER_BYTES)
    cfg.set("limit_request_fields", GUNICORN_MAX_FIELDS)


def _client_message(status: int, exc: Exception) -> str:
    if status == 414:
        return f"Request line too long: {exc}"
    if status == 431:
        return f"Request headers too large: {exc}"
    return f"Malformed HTTP request: {type(exc).__name__}: {exc}"
