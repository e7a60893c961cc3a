"""One browser connection on a route's port: HTTP/1.1 heads checked and rewritten, bytes relayed.

Request heads are parsed incrementally with httptools (llhttp, in C); bodies stream through
(re-chunked when chunked, so that what the app reads is framed exactly as the proxy read it).
Responses flow back raw; a second parser only follows their boundaries, so that an answer the
proxy gives itself (403, 302, ...) never lands inside an app's response on a pipelined
connection, and so that only a ``101`` really turns the connection into a raw relay.

Memory stays bounded without queues: a head may not exceed ``MAX_HEAD``, and each side's
reading pauses while the other side's send buffer is full.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Literal

import httptools

from backendai.appproxy.heads import (
    RequestHead,
    check,
    forward_head,
    local_response,
    redirect_response,
)
from backendai.appproxy.local_tunnel import LocalTunnel, open_tunnel
from backendai.appproxy.tunnel import Tunnel

if TYPE_CHECKING:
    from backendai.appproxy.routes import ServedRoute

MAX_HEAD = 64 * 1024
MAX_HELD = 256 * 1024
LINGER_S = 2.0  # bytes a client may send after an Upgrade head before its answer

Mode = Literal["http", "upgrade", "raw", "done"]


class _Stop(Exception):
    """Raised from a parser callback: the proxy answered; parse no further."""


class ResponseTracker:
    """Follows response boundaries (not their bytes) to know how many are still due.

    A response to HEAD announces a body it does not carry, which llhttp cannot be told, so
    after a HEAD the connection is no longer followed (``tracked`` False) and its rare
    answers of our own are written at once."""

    def __init__(self, conn: ClientConnection) -> None:
        self._conn = conn
        self._parser = httptools.HttpResponseParser(self)
        self._methods: deque[bytes] = deque()
        self._informational = False
        self.tracked = True

    @property
    def outstanding(self) -> int:
        return len(self._methods)

    def expect(self, method: bytes) -> None:
        self._methods.append(method)
        if method == b"HEAD":
            self.tracked = False

    def feed(self, data: bytes) -> None:
        if not self.tracked:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.tracked = False
            self._conn.switched()
        except httptools.HttpParserError:
            self.tracked = False

    def on_headers_complete(self) -> None:
        # 1xx answers precede the real one; a 101 (completed before the parser raises its
        # upgrade) is followed by raw bytes, not by another response.
        self._informational = 100 <= self._parser.get_status_code() < 200

    def on_message_complete(self) -> None:
        if self._informational or not self._methods:
            return
        self._methods.popleft()
        if not self._methods:
            self._conn.responses_done()


class ClientConnection(asyncio.Protocol):
    def __init__(self, route: ServedRoute) -> None:
        self._route = route
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._tunnel: Tunnel | LocalTunnel | None = None
        self._responses = ResponseTracker(self)
        self._mode: Mode = "http"
        self._pauses: set[str] = set()
        self._out = bytearray()  # forwarded bytes of the current data_received
        self._held = bytearray()
        self._answer: bytes | None = None
        self._last = False  # the client asked to close after this request
        # the head being parsed
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._in_head = False
        self._head_size = 0
        self._head_fed = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._chunked = False

    # -- the browser's transport ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.set_write_buffer_limits(high=256 * 1024)
        self._route.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._route.connections.discard(self)
        self._mode = "done"
        if self._head_timer is not None:
            self._head_timer.cancel()
        if self._tunnel is not None:
            self._tunnel.close()

    def data_received(self, data: bytes) -> None:
        self._route.active = True
        if self._mode == "raw":
            assert self._tunnel is not None
            self._tunnel.send(data)
        elif self._mode == "upgrade":
            self._held += data
            if len(self._held) > MAX_HELD:
                self.abort()
        elif self._mode == "http":
            self._parse(data)

    def eof_received(self) -> bool | None:
        due = self._responses.tracked and self._responses.outstanding
        if self._answer is not None or (self._mode == "http" and due):
            self._mode = "done"  # the client is done sending; its answers are still due
            return True
        return None

    def pause_writing(self) -> None:
        if self._tunnel is not None:
            self._tunnel.pause()

    def resume_writing(self) -> None:
        if self._tunnel is not None:
            self._tunnel.resume()

    def abort(self) -> None:
        """Cut the connection now (its route was deleted or changed)."""
        self._mode = "done"
        if self._tunnel is not None:
            self._tunnel.close(abort=True)
        if self._transport is not None:
            self._transport.abort()

    def _pause(self, reason: str, paused: bool) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        before = bool(self._pauses)
        if paused:
            self._pauses.add(reason)
        else:
            self._pauses.discard(reason)
        if before and not self._pauses:
            self._transport.resume_reading()
        elif not before and self._pauses:
            self._transport.pause_reading()

    # -- parsing requests ----------------------------------------------------------------

    def _parse(self, data: bytes) -> None:
        if self._in_head:
            self._head_fed += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as e:
            self._flush()
            self._upgrade_sent(data[e.args[0] :])
            return
        except httptools.HttpParserCallbackError as e:
            if not isinstance(e.__context__, _Stop):
                raise
        except httptools.HttpParserError:
            self._flush()
            self._refuse(local_response(400, "The request is not valid HTTP/1.1."))
        self._flush()
        if self._mode == "http" and self._in_head and self._head_fed > MAX_HEAD:
            self._refuse(local_response(431, "The request head is too large."))

    def _flush(self) -> None:
        if self._out and self._tunnel is not None:
            self._tunnel.send(bytes(self._out))
        self._out.clear()

    def on_message_begin(self) -> None:
        if self._last:
            self._refuse(b"")  # bytes after a request that closed the connection
            raise _Stop
        self._url, self._headers = b"", []
        self._in_head, self._head_size, self._head_fed = True, 0, 0
        self._head_timer = self._loop.call_later(self._route.head_timeout, self._head_too_slow)

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._grow(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._grow(len(name) + len(value) + 4)

    def _grow(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD:
            self._refuse(local_response(431, "The request head is too large."))
            raise _Stop

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
        head = RequestHead(
            self._parser.get_method(), self._url, self._parser.get_http_version(), self._headers
        )
        if head.method == b"CONNECT":
            self._refuse(local_response(405, "This proxy does not tunnel CONNECT."))
            raise _Stop
        verdict = check(head, self._route.access)
        if verdict.action == "forbid":
            self._refuse(local_response(403, verdict.message + "\n"))
            raise _Stop
        if verdict.action == "redirect":
            self._refuse(redirect_response(verdict.location, self._route.access))
            raise _Stop
        if self._tunnel is None:
            self._tunnel = open_tunnel(
                self, self._route.spec, self._route.tunnel_timeout, self._route.handoff
            )
        self._out += forward_head(head, self._route.hidden_cookies)
        self._responses.expect(head.method)
        self._chunked = head.chunked

    def on_body(self, body: bytes) -> None:
        if self._chunked:
            self._out += b"%x\r\n" % len(body)
            self._out += body
            self._out += b"\r\n"
        else:
            self._out += body

    def on_message_complete(self) -> None:
        if self._chunked:
            self._out += b"0\r\n\r\n"
        self._chunked = False
        if not self._parser.should_keep_alive():
            self._last = True

    def _head_too_slow(self) -> None:
        if self._in_head and self._mode == "http":
            self._refuse(local_response(408, "The request head took too long to arrive."))

    # -- answers of our own --------------------------------------------------------------

    def _refuse(self, response: bytes) -> None:
        """Answer ``response`` after every response still due, then close."""
        self._mode = "done"
        self._pause("done", True)
        if self._tunnel is not None and self._responses.tracked and self._responses.outstanding:
            self._answer = response
            return
        self._close_with(response)

    def _close_with(self, response: bytes) -> None:
        if self._tunnel is not None:
            self._tunnel.close()
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if not response or not transport.can_write_eof():
            transport.write(response)
            transport.close()
            return
        # A lingering close: closing a socket with unread bytes makes the kernel reset the
        # connection, and a reset may destroy our answer before the client reads it. So send
        # it and a FIN, then drop whatever still comes for a moment.
        self._mode = "done"
        transport.write(response)
        transport.write_eof()
        self._pauses.clear()
        transport.resume_reading()
        self._loop.call_later(LINGER_S, transport.close)

    # -- upgrades ------------------------------------------------------------------------

    def _upgrade_sent(self, rest: bytes) -> None:
        """An Upgrade request went upstream: hold the client's next bytes until the app
        answers; only a 101 makes the connection a raw relay."""
        if self._mode != "http":
            return
        if not self._responses.tracked:
            self._mode = "raw"
            if rest and self._tunnel is not None:
                self._tunnel.send(rest)
            return
        self._mode = "upgrade"
        self._held += rest
        self._pause("upgrade", True)

    def switched(self) -> None:
        if self._mode != "upgrade":
            return
        self._mode = "raw"
        if self._held and self._tunnel is not None:
            self._tunnel.send(bytes(self._held))
        self._held.clear()
        self._pause("upgrade", False)

    def responses_done(self) -> None:
        if self._mode == "upgrade":  # the app refused the upgrade: back to HTTP
            self._mode = "http"
            self._parser = httptools.HttpRequestParser(self)
            held, self._held = bytes(self._held), bytearray()
            self._pause("upgrade", False)
            if held:
                self._parse(held)
        elif self._answer is not None:
            self._close_with(self._answer)
        elif self._mode == "done" or self._last:
            self._close_with(b"")

    # -- the tunnel's side ---------------------------------------------------------------

    def tunnel_open(self) -> None:
        pass

    def tunnel_data(self, data: bytes) -> None:
        self._route.active = True
        if self._transport is None or self._transport.is_closing():
            return
        self._transport.write(data)
        self._responses.feed(data)

    def tunnel_failed(self, problem: bytes) -> None:
        self._mode = "done"
        self._close_with(
            local_response(502, problem, [("Content-Type", "application/problem+json")])
        )

    def tunnel_closed(self) -> None:
        self._mode = "done"
        self._close_with(b"")

    def tunnel_full(self, full: bool) -> None:
        self._pause("tunnel", full)
