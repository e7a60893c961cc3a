"""A kernel's apps (ttyd, sshd, jupyter, ...): list, start, stop, and the tunnel to them.

The agent knows an app's name, protocol and ports from the image label (the kernel's service
ports); everything else (how to start it, what it allows, whether it runs) is the runner's, asked
over its socket (``backendai.common.app_protocol``, "Runner ops"). No port of a container is
published: the tunnel relays a WebSocket to a connection that the runner opens inside the
container and hands over as a descriptor (``runner_link.open_app_socket``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Mapping
from typing import Any

from aiohttp import WSMsgType, web
from pydantic import ValidationError

from backendai.agent.errors import KernelNotReady
from backendai.agent.kernels import Kernel
from backendai.agent.runner_link import ask, open_app_socket
from backendai.common.agent_protocol import ServicePort
from backendai.common.app_protocol import (
    MAX_APP_ARGUMENTS,
    MAX_APP_ENVS,
    MAX_APP_VALUE_LENGTH,
    AppInfo,
    AppStarted,
    AppStartRequest,
    AppStopped,
)
from backendai.common.errors import AppNotFound, AppStartFailed, InvalidRequest, PlatformError
from backendai.common.websockets import MAX_FRAME_SIZE

log = logging.getLogger(__name__)

DESCRIBE_TIMEOUT = 10.0
# The runner bounds each app's own start (and answers 502 with its log); this only bounds a
# runner that hangs.
START_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
CONNECT_TIMEOUT = 15.0
# Bytes read from an app at once: large enough that a bulk transfer costs few frames, small
# enough that a slow WebSocket holds little of it (one chunk per tunnel, never more).
RELAY_CHUNK = 256 * 2**10

# What of an app's description is the runner's to say (the rest is the image label's).
_RUNNER_FIELDS = ("url_template", "allowed_arguments", "allowed_envs", "running")
_FAILURES: dict[int, type[PlatformError]] = {
    400: InvalidRequest,
    404: AppNotFound,
    502: AppStartFailed,
}


def service_port(kernel: Kernel, app: str) -> ServicePort:
    for port in kernel.service_ports:
        if port.name == app:
            return port
    raise AppNotFound(f"The session has no app {app!r}.")


async def _ask(kernel: Kernel, message: dict[str, Any], within: float) -> dict[str, Any]:
    try:
        return await ask(kernel.paths.socket, message, within)
    except OSError as e:
        raise KernelNotReady(f"The kernel's runner did not answer: {e}") from e


def _failure(answer: dict[str, Any]) -> PlatformError:
    """The runner's ``service-failed`` (or an answer it should not give) as our error."""
    if answer.get("op") != "service-failed":
        return AppStartFailed(f"The runner answered {str(answer.get('op'))[:64]!r} unexpectedly.")
    status = answer.get("status")
    error = _FAILURES.get(status if isinstance(status, int) else 502, AppStartFailed)
    return error(str(answer.get("message") or error.title))


async def list_apps(kernel: Kernel) -> list[AppInfo]:
    """The kernel's apps with what the runner knows of them; only the label's view if the
    runner cannot say (it is restarting, or predates apps)."""
    known: Mapping[str, Any] = {}
    names = [p.name for p in kernel.service_ports]
    try:
        answer = await _ask(kernel, {"op": "describe-services", "names": names}, DESCRIBE_TIMEOUT)
        services = answer.get("services") if answer.get("op") == "services" else None
        if isinstance(services, dict):
            known = services
    except KernelNotReady as e:
        log.warning("kernel %s: listing its apps without the runner: %s", kernel.kernel_id, e)
    apps = []
    for port in kernel.service_ports:
        info = AppInfo(name=port.name, protocol=port.protocol, ports=port.container_ports)
        extra = known.get(port.name)
        if isinstance(extra, dict):
            try:
                info = AppInfo.model_validate(
                    info.model_dump() | {k: v for k, v in extra.items() if k in _RUNNER_FIELDS}
                )
            except ValidationError as e:
                log.warning("kernel %s: bad description of %s: %s", kernel.kernel_id, port.name, e)
        apps.append(info)
    return apps


async def start_app(kernel: Kernel, app: str, req: AppStartRequest) -> AppStarted:
    port = service_port(kernel, app)
    check_bounds(req)
    message = {
        "op": "start-service",
        "name": app,
        "protocol": port.protocol,
        "ports": port.container_ports,
        "arguments": req.arguments,
        "envs": req.envs,
    }
    answer = await _ask(kernel, message, START_TIMEOUT)
    if answer.get("op") != "service-started":
        raise _failure(answer)
    try:
        return AppStarted(name=app, port=answer["port"], started=answer.get("started", False))
    except (KeyError, ValidationError):
        raise AppStartFailed("The runner's answer to the start had no port.") from None


async def stop_app(kernel: Kernel, app: str) -> AppStopped:
    service_port(kernel, app)
    answer = await _ask(kernel, {"op": "stop-service", "name": app}, STOP_TIMEOUT)
    if answer.get("op") != "service-stopped":
        raise _failure(answer)
    return AppStopped(name=app, stopped=bool(answer.get("stopped")))


def check_bounds(req: AppStartRequest) -> None:
    """What a user may pass to an app: bounded, and no NUL (no command line can carry one)."""
    if len(req.arguments) > MAX_APP_ARGUMENTS:
        raise InvalidRequest(f"At most {MAX_APP_ARGUMENTS} arguments may be given to an app.")
    if len(req.envs) > MAX_APP_ENVS:
        raise InvalidRequest(f"At most {MAX_APP_ENVS} environment variables may be given.")
    for key, value in req.arguments.items():
        values = value if isinstance(value, list) else [] if value is None else [value]
        if len(values) > MAX_APP_ARGUMENTS:
            raise InvalidRequest(f"The argument {key[:64]!r} is repeated too often.")
        _check_texts("argument", key, [key, *values])
    for name, text in req.envs.items():
        _check_texts("environment variable", name, [name, text])


def _check_texts(kind: str, name: str, texts: list[str]) -> None:
    for text in texts:
        if len(text) > MAX_APP_VALUE_LENGTH:
            raise InvalidRequest(
                f"The {kind} {name[:64]!r} is longer than {MAX_APP_VALUE_LENGTH} characters."
            )
        if "\0" in text:
            raise InvalidRequest(f"The {kind} {name[:64]!r} contains a NUL character.")


def parse_query(query: Mapping[str, str]) -> AppStartRequest:
    """``arguments`` and ``envs`` given as JSON in the query (as ``tcpproxy`` takes them)."""
    fields: dict[str, Any] = {}
    for key in ("arguments", "envs"):
        if key in query:
            try:
                fields[key] = json.loads(query[key])
            except ValueError as e:
                raise InvalidRequest(f"The query parameter {key!r} is not JSON: {e}.") from None
    try:
        req = AppStartRequest.model_validate(fields)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise InvalidRequest(f"Invalid query: {problems}") from None
    check_bounds(req)
    return req


async def tunnel(request: web.Request, kernel: Kernel, app: str) -> web.WebSocketResponse:
    """Start the app if needed, connect to it, then relay; every refusal comes before the
    upgrade, as a problem JSON."""
    service_port(kernel, app)
    req = parse_query(request.query)
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_SIZE, heartbeat=30, compress=False)
    if not ws.can_prepare(request).ok:
        raise InvalidRequest("The tunnel is a WebSocket: send an upgrade request.")
    started = await start_app(kernel, app, req)
    try:
        sock = await open_app_socket(kernel.paths.socket, started.port, CONNECT_TIMEOUT)
    except OSError as e:
        raise KernelNotReady(f"The kernel's runner did not connect to {app}: {e}") from e
    try:
        await ws.prepare(request)
    except BaseException:
        sock.close()
        raise
    await relay(ws, sock)
    return ws


async def relay(ws: web.WebSocketResponse, sock: socket.socket) -> None:
    """Binary frames to the app, the app's bytes as binary frames, until either side ends.

    Each direction holds at most one chunk: a frame is read only once the previous one is in
    the socket, and the socket only once the previous chunk is in the WebSocket's transport
    (``send_bytes`` waits for it to drain), so a slow side slows the other down.
    """
    loop = asyncio.get_running_loop()
    with contextlib.suppress(OSError):  # keystrokes of terminals go out at once
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def down() -> None:
        while data := await loop.sock_recv(sock, RELAY_CHUNK):
            await ws.send_bytes(data)

    async def up() -> None:
        async for msg in ws:
            if msg.type is WSMsgType.BINARY:
                await loop.sock_sendall(sock, msg.data)
            elif msg.type is WSMsgType.TEXT:  # lenient: a text frame is its UTF-8 bytes
                await loop.sock_sendall(sock, msg.data.encode())

    from_app = asyncio.create_task(down())
    to_app = asyncio.create_task(up())
    done: set[asyncio.Task[None]] = set()
    try:
        done, _ = await asyncio.wait({from_app, to_app}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (to_app, from_app):
            task.cancel()
        await asyncio.gather(to_app, from_app, return_exceptions=True)
        sock.close()
    if from_app in done and from_app.exception() is None:
        await ws.close(code=1000, message=b"the app closed the connection")
    elif not ws.closed:  # the app's connection failed (reset) while the WebSocket is open
        await ws.close(code=1011, message=b"the connection to the app failed")
