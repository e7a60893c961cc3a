"""The agent side of a proxied connection: one WebSocket to the agent's app tunnel.

A small client of its own rather than aiohttp's: it streams frame payloads to the browser as
they arrive (no message is ever buffered whole), it answers pauses of either side by pausing
the other transport (bounded memory without queues), and it keeps the agent's answer when the
handshake fails, which carries the problem detail a user needs (the app's log on
``app-start-failed``) and which aiohttp's ``ws_connect`` drops.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import ssl
import struct
from typing import Protocol
from urllib.parse import urlencode, urlsplit

# aiohttp's C implementation of the XOR mask (its public writer masks the same way): a Python
# mask would cap uploads at a few hundred MB/s.
from aiohttp._websocket.helpers import websocket_mask

from backendai.common.app_protocol import AGENT_APP_TUNNEL, TICKET_QUERY, AppRouteSpec
from backendai.common.problems import PROBLEM_BASE
from backendai.common.websockets import MAX_FRAME_SIZE

MAX_HANDSHAKE = 64 * 1024  # an agent's 101 head is a few hundred bytes
MAX_ERROR_BODY = 1024 * 1024  # a problem with an app's log; more is cut
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class TunnelUser(Protocol):
    """The browser's side, as the tunnel drives it."""

    def tunnel_open(self) -> None: ...
    def tunnel_data(self, data: bytes) -> None: ...
    def tunnel_failed(self, problem: bytes) -> None: ...
    def tunnel_closed(self) -> None: ...
    def tunnel_full(self, full: bool) -> None: ...


def problem(code: str, title: str, msg: str) -> bytes:
    return json.dumps({"type": PROBLEM_BASE + code, "title": title, "msg": msg}).encode()


def tunnel_target(spec: AppRouteSpec) -> tuple[str, int, bool, str]:
    """(host, port, tls, request target) of the spec's tunnel on its agent."""
    base = urlsplit(spec.agent_addr)
    tls = base.scheme in ("https", "wss")
    path = base.path.rstrip("/") + AGENT_APP_TUNNEL.format(kernel_id=spec.kernel_id, app=spec.app)
    query = urlencode(
        {
            TICKET_QUERY: spec.ticket,
            "arguments": json.dumps(spec.arguments),
            "envs": json.dumps(spec.envs),
        }
    )
    return base.hostname or "127.0.0.1", base.port or (443 if tls else 80), tls, f"{path}?{query}"


class Upstream(asyncio.Protocol):
    """What every upstream of a browser connection does alike (the agent's tunnel, or an app
    connection handed over): flow control both ways, and one end reported once."""

    _user: TunnelUser
    transport: asyncio.Transport | None
    ended: bool

    def pause(self) -> None:
        if self.transport is not None and not self.ended:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.ended:
            self.transport.resume_reading()

    def eof_received(self) -> bool | None:
        self._finish()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    def pause_writing(self) -> None:
        self._user.tunnel_full(True)

    def resume_writing(self) -> None:
        self._user.tunnel_full(False)

    def _finish(self) -> None:
        raise NotImplementedError


class Tunnel(Upstream):
    def __init__(self, user: TunnelUser, host: str, target: str, timeout: float) -> None:
        self._user = user
        self._timeout = timeout
        self._timer: asyncio.TimerHandle | None = None
        self._key = base64.b64encode(os.urandom(16))
        self._request = (
            (
                f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            ).encode()
            + b"Sec-WebSocket-Key: "
            + self._key
            + b"\r\n\r\n"
        )
        self.transport: asyncio.Transport | None = None
        self.is_open = False
        self.ended = False
        self._pending = bytearray()  # the browser's bytes sent before the handshake ended
        self._inbox = bytearray()  # an unfinished handshake answer or frame header
        self._error_status = 0
        self._error_length: int | None = None
        self._remaining = 0  # payload bytes of the current frame still to come
        self._opcode = 0
        self._control = bytearray()

    # -- the browser's side calls these --------------------------------------------------

    def send(self, data: bytes) -> None:
        if self.ended:
            return
        if not self.is_open or self.transport is None:
            self._pending += data
            self._user.tunnel_full(len(self._pending) > 256 * 1024)
            return
        self._write_frame(_BINARY, data)

    def close(self, abort: bool = False) -> None:
        if self.transport is not None and not self.ended:
            if self.is_open and not abort:
                self._write_frame(_CLOSE, struct.pack("!H", 1000))
            self.ended = True
            if abort:
                self.transport.abort()
            else:
                self.transport.close()
        self.ended = True

    def _write_frame(self, opcode: int, data: bytes | bytearray) -> None:
        assert self.transport is not None
        n = len(data)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        payload = bytearray(data)
        websocket_mask(mask, payload)
        self.transport.write(b"".join((header, mask, payload)))

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self._request)
        # The agent answers once the app accepts connections, so this bounds an app's start.
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._too_slow)

    def _too_slow(self) -> None:
        if not self.is_open and not self.ended:
            self._fail_with(
                problem(
                    "app-start-failed",
                    "The app could not be started in the session.",
                    f"The agent did not open the app's tunnel within {self._timeout:.0f} s.",
                )
            )

    def data_received(self, data: bytes) -> None:
        if self.ended:
            return
        if self.is_open:
            self._frames(data)
        elif self._error_status:
            self._error_body(data)
        else:
            self._handshake(data)

    def _finish(self) -> None:
        if self._error_status:
            self._fail_with(bytes(self._inbox))
        elif not self.is_open and not self.ended:
            self._fail_with(
                problem("agent-error", "The app tunnel failed.", "The agent closed the tunnel.")
            )
        elif not self.ended:
            self.ended = True
            self._user.tunnel_closed()
        if self.transport is not None:
            self.transport.close()

    def _fail_with(self, body: bytes) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.ended = True
        try:
            json.loads(body)
        except ValueError:
            text = body.decode(errors="replace").strip()
            body = problem(
                "agent-error",
                "The app tunnel failed.",
                f"The agent answered {self._error_status or 'nothing'}: {text[:2000]}",
            )
        self._user.tunnel_failed(body)
        if self.transport is not None:
            self.transport.close()

    # -- the handshake -------------------------------------------------------------------

    def _handshake(self, data: bytes) -> None:
        self._inbox += data
        end = self._inbox.find(b"\r\n\r\n")
        if end < 0:
            if len(self._inbox) > MAX_HANDSHAKE:
                self._fail_with(b"")
            return
        head, rest = bytes(self._inbox[:end]), bytes(self._inbox[end + 4 :])
        self._inbox.clear()
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if status != 101:
            self._error_status = status or 502
            length = headers.get(b"content-length", b"")
            self._error_length = int(length) if length.isdigit() else None
            self._error_body(rest)
            return
        accept = base64.b64encode(hashlib.sha1(self._key + _GUID).digest())
        if headers.get(b"sec-websocket-accept") != accept:
            self._fail_with(b"The agent's handshake had a wrong Sec-WebSocket-Accept.")
            return
        self.is_open = True
        if self._timer is not None:
            self._timer.cancel()
        self._user.tunnel_open()
        if self._pending:
            pending, self._pending = bytes(self._pending), bytearray()
            self._write_frame(_BINARY, pending)
            self._user.tunnel_full(False)
        if rest:
            self._frames(rest)

    def _error_body(self, data: bytes) -> None:
        room = MAX_ERROR_BODY - len(self._inbox)
        self._inbox += data[: max(room, 0)]
        if self._error_length is not None and len(self._inbox) >= self._error_length:
            self._fail_with(bytes(self._inbox[: self._error_length]))
        elif room <= len(data):
            self._fail_with(bytes(self._inbox))

    # -- frames from the agent -----------------------------------------------------------

    def _frames(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.ended:
            if self._remaining:
                piece, view = view[: self._remaining], view[self._remaining :]
                self._remaining -= len(piece)
                self._payload(piece)
                if not self._remaining:
                    self._frame_done()
                continue
            self._inbox += view
            view = memoryview(b"")
            header = self._parse_header()
            if header is None:
                return
            taken, length = header
            rest = bytes(self._inbox[taken:])
            self._inbox.clear()
            self._remaining = length
            if length == 0:
                self._frame_done()
            view = memoryview(rest)

    def _parse_header(self) -> tuple[int, int] | None:
        buf = self._inbox
        if len(buf) < 2:
            return None
        self._opcode = buf[0] & 0x0F
        masked, length, taken = buf[1] & 0x80, buf[1] & 0x7F, 2
        if length == 126:
            if len(buf) < 4:
                return None
            (length,), taken = struct.unpack_from("!H", buf, 2), 4
        elif length == 127:
            if len(buf) < 10:
                return None
            (length,), taken = struct.unpack_from("!Q", buf, 2), 10
        if masked or length > MAX_FRAME_SIZE:
            self._protocol_error()  # an agent never masks, and never sends more
            return None
        if self._opcode >= _CLOSE and length > 125:
            self._protocol_error()
            return None
        return taken, length

    def _payload(self, piece: memoryview) -> None:
        if self._opcode in (_CONTINUATION, _TEXT, _BINARY):
            self._user.tunnel_data(bytes(piece))
        else:
            self._control += piece

    def _frame_done(self) -> None:
        opcode, control = self._opcode, bytes(self._control)
        self._control.clear()
        if opcode == _PING:
            self._write_frame(_PONG, control)
        elif opcode == _CLOSE:
            self.close()
            self._user.tunnel_closed()

    def _protocol_error(self) -> None:
        self._inbox.clear()
        self.close(abort=True)
        self._user.tunnel_closed()


def start_tunnel(user: TunnelUser, spec: AppRouteSpec, timeout: float) -> Tunnel:
    """A tunnel that takes bytes at once (held until its handshake ends) and connects in the
    background; the user hears how that ends."""
    host, port, tls, target = tunnel_target(spec)
    tunnel = Tunnel(user, f"{host}:{port}", target, timeout)

    async def connect() -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(
                    lambda: tunnel, host, port, ssl=ssl.create_default_context() if tls else None
                )
        except (OSError, TimeoutError) as e:
            if not tunnel.ended:
                tunnel.ended = True
                user.tunnel_failed(
                    problem(
                        "agent-unreachable",
                        "The agent could not be reached.",
                        f"No connection to the agent at {spec.agent_addr}: {e!r}",
                    )
                )
        else:
            if tunnel.ended and tunnel.transport is not None:
                tunnel.transport.close()  # the browser left while we connected

    task = asyncio.create_task(connect())
    _CONNECTING.add(task)
    task.add_done_callback(_CONNECTING.discard)
    return tunnel


_CONNECTING: set[asyncio.Task[None]] = set()  # strong references while they run
