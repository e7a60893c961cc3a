"""The upstream of a browser connection when the app's agent is on this host: the app's own
connection, handed over by the agent as a descriptor (``agent/app_handoff.py``), so that bytes
cross one relay (this one) instead of two and need no WebSocket framing.

It behaves as ``tunnel.Tunnel`` towards the browser's side (``TunnelUser``): bytes are taken at
once and held until the connection arrives, and a refusal is the agent's problem JSON.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

from backendai.appproxy.tunnel import Tunnel, TunnelUser, Upstream, problem, start_tunnel
from backendai.common.app_protocol import AppRouteSpec

MAX_ANSWER = 64 * 1024
_HELD_HIGH = 256 * 1024


class LocalTunnel(Upstream):
    def __init__(self, user: TunnelUser) -> None:
        self._user = user
        self.transport: asyncio.Transport | None = None
        self.is_open = False
        self.ended = False
        self._pending = bytearray()  # the browser's bytes sent before the connection came

    # -- the browser's side calls these (as on Tunnel) -----------------------------------

    def send(self, data: bytes) -> None:
        if self.ended:
            return
        if self.transport is None:
            self._pending += data
            self._user.tunnel_full(len(self._pending) > _HELD_HIGH)
            return
        self.transport.write(data)

    def close(self, abort: bool = False) -> None:
        if self.transport is not None and not self.ended:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()
        self.ended = True

    # -- asyncio.Protocol on the app's connection ----------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=256 * 1024)
        self.is_open = True
        self._user.tunnel_open()
        if self._pending:
            pending, self._pending = bytes(self._pending), bytearray()
            transport.write(pending)
            self._user.tunnel_full(False)

    def data_received(self, data: bytes) -> None:
        if not self.ended:
            self._user.tunnel_data(data)

    def _finish(self) -> None:
        if not self.ended:
            self.ended = True
            self._user.tunnel_closed()
        if self.transport is not None:
            self.transport.close()

    def fail(self, body: bytes) -> None:
        if not self.ended:
            self.ended = True
            self._user.tunnel_failed(body)


def open_tunnel(
    user: TunnelUser, spec: AppRouteSpec, timeout: float, handoff: Path | None
) -> Tunnel | LocalTunnel:
    """The handed-over connection where the agent is on this host, else its tunnel."""
    if handoff is None or not handoff.exists():
        return start_tunnel(user, spec, timeout)
    tunnel = LocalTunnel(user)

    async def connect() -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                fd, answer = await _ask(handoff, spec)
            if fd is None:
                sent = answer.get("problem")
                tunnel.fail(json.dumps(sent).encode() if isinstance(sent, dict) else b"{}")
                return
            app = socket.socket(fileno=fd)
            app.setblocking(False)
            if tunnel.ended:  # the browser left while we asked
                app.close()
                return
            await loop.connect_accepted_socket(lambda: tunnel, sock=app)
        except (OSError, TimeoutError, ValueError) as e:
            tunnel.fail(
                problem(
                    "agent-unreachable",
                    "The agent could not be reached.",
                    f"No app connection from the agent at {handoff}: {e!r}",
                )
            )

    task = asyncio.create_task(connect())
    _CONNECTING.add(task)
    task.add_done_callback(_CONNECTING.discard)
    return tunnel


async def _ask(path: Path, spec: AppRouteSpec) -> tuple[int | None, dict[str, object]]:
    """The agent's answer, and the app connection's descriptor when it gave one."""
    loop = asyncio.get_running_loop()
    request = {
        "kernel_id": str(spec.kernel_id),
        "app": spec.app,
        "ticket": spec.ticket,
        "arguments": spec.arguments,
        "envs": spec.envs,
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, str(path))
        await loop.sock_sendall(sock, json.dumps(request).encode() + b"\n")
        data, fds = bytearray(), list[int]()
        while b"\n" not in data:
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(sock.fileno(), _wake, readable)
            try:
                await readable
            finally:
                loop.remove_reader(sock.fileno())
            chunk, got, _, _ = socket.recv_fds(sock, MAX_ANSWER, 1)
            fds += got
            if not chunk:
                break
            data += chunk
            if len(data) > MAX_ANSWER:
                raise ValueError("the agent's answer is too long")
        try:
            answer = json.loads(bytes(data).split(b"\n", 1)[0] or b"{}")
            if not isinstance(answer, dict):
                raise ValueError("the agent's answer is not a JSON object")
        except ValueError:
            for fd in fds:
                socket.close(fd)
            raise
        for extra in fds[1:]:
            socket.close(extra)
        if answer.get("ok") is True and fds:
            return fds[0], answer
        for fd in fds[:1]:
            socket.close(fd)
        return None, answer


def _wake(readable: asyncio.Future[None]) -> None:
    if not readable.done():  # the reader may fire again before it is removed
        readable.set_result(None)


_CONNECTING: set[asyncio.Task[None]] = set()  # strong references while they run
