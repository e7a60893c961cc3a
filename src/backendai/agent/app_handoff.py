"""Handing an app's connection to an app proxy on the same host, as a file descriptor.

The tunnel WebSocket (``apps.tunnel``) serves proxies anywhere, at the price of a relay: every
byte is read and written again by the agent and framed for the proxy. A proxy on this host
instead asks here, on a unix socket only this host's processes reach (mode 0600, the agent's
user), and gets the app's connection itself (the descriptor the runner handed the agent), so
that a browser's bytes cross one relay, the proxy's.

One request per connection, one JSON line each way:

    proxy -> agent  {"kernel_id": ID, "app": NAME, "ticket": T, "arguments": {..}, "envs": {..}}
    agent -> proxy  {"ok": true}  sent with the connection's descriptor (SCM_RIGHTS), or
                    {"ok": false, "status": N, "problem": {"type", "title", "msg"}}

The ticket is the one the tunnel takes (``common.app_protocol.tunnel_ticket_allows``): a proxy
gets a connection only to the app the manager routed to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from backendai.agent.apps import CONNECT_TIMEOUT, check_bounds, service_port, start_app
from backendai.agent.errors import KernelNotReady
from backendai.agent.kernels import KernelRegistry
from backendai.agent.runner_link import open_app_socket
from backendai.common.app_protocol import AppStartRequest, tunnel_ticket_allows
from backendai.common.errors import AuthenticationFailed, InvalidRequest, PlatformError
from backendai.common.problems import PROBLEM_BASE, status_of

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024  # a ticket, an app name and bounded arguments
REQUEST_TIMEOUT = 10.0


class AppHandoff:
    def __init__(self, registry: KernelRegistry, token: str, path: Path) -> None:
        self.registry, self.token, self.path = registry, token, path
        self._server: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._serving: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        temporary = self.path.with_name(self.path.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        server.bind(str(temporary))
        os.chmod(temporary, 0o600)  # this host's agent user (and root) only
        server.listen(64)
        server.setblocking(False)
        os.replace(temporary, self.path)
        self._server = server
        self._task = asyncio.create_task(self._accept(server), name="app-handoff")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._serving):
            task.cancel()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def _accept(self, server: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(server)
            task = asyncio.create_task(self._serve(conn))
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

    async def _serve(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        app_sock: socket.socket | None = None
        try:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    request = await _read_line(conn)
                app_sock = await self._connect(request)
            except PlatformError as e:
                answer = {"ok": False, "status": status_of(e), "problem": _problem(e)}
                await _send(conn, answer)
                return
            await _send(conn, {"ok": True}, app_sock.fileno())
        except (OSError, TimeoutError) as e:
            log.info("app handoff: a request ended early: %r", e)
        finally:
            if app_sock is not None:
                app_sock.close()  # the proxy holds its own copy now
            conn.close()

    async def _connect(self, raw: bytes) -> socket.socket:
        try:
            request = json.loads(raw)
            kernel_id = uuid.UUID(str(request["kernel_id"]))
            app, ticket = str(request["app"]), str(request["ticket"])
            req = AppStartRequest.model_validate(
                {"arguments": request.get("arguments") or {}, "envs": request.get("envs") or {}}
            )
        except (ValueError, KeyError, TypeError, ValidationError) as e:
            raise InvalidRequest(f"A malformed app handoff request: {e}") from None
        if not tunnel_ticket_allows(self.token, ticket, kernel_id, app):
            raise AuthenticationFailed("The ticket does not open this kernel's app.")
        kernel = self.registry.get(kernel_id)
        service_port(kernel, app)
        check_bounds(req)
        started = await start_app(kernel, app, req)
        try:
            return await open_app_socket(kernel.paths.socket, started.port, CONNECT_TIMEOUT)
        except OSError as e:
            raise KernelNotReady(f"The kernel's runner did not connect to {app}: {e}") from e


def _problem(error: PlatformError) -> dict[str, Any]:
    return {"type": PROBLEM_BASE + error.code, "title": error.title, "msg": error.msg or ""}


async def _read_line(conn: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    data = bytearray()
    while b"\n" not in data:
        chunk = await loop.sock_recv(conn, 4096)
        if not chunk:
            raise InvalidRequest("The app handoff request ended before its newline.")
        data += chunk
        if len(data) > MAX_REQUEST:
            raise InvalidRequest(f"An app handoff request is at most {MAX_REQUEST} bytes.")
    return bytes(data.split(b"\n", 1)[0])


async def _send(conn: socket.socket, answer: dict[str, Any], fd: int | None = None) -> None:
    line = json.dumps(answer).encode() + b"\n"
    if fd is None:
        await asyncio.get_running_loop().sock_sendall(conn, line)
        return
    # One short message into an empty socket buffer: it goes at once, descriptor and all.
    socket.send_fds(conn, [line], [fd])
