"""``/stream/session/{name}/...``: code execution over WebSocket, and the session's apps.

The execute stream is relayed frame by frame, verbatim, between the client and the agent's
execute WebSocket (API_CONTRACT §2.2); the agent speaks the client's protocol itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from backendai.common.errors import InvalidRequest
from backendai.manager.api.session import session_from_request
from backendai.manager.context import context_of

Sender = Callable[[aiohttp.WSMessage], Awaitable[bool]]


class RunningExecutions:
    """The agent sockets of the executions in flight, per session, so that a separate
    ``POST /session/{name}/interrupt`` can reach the code that is running."""

    def __init__(self) -> None:
        self._by_session: dict[uuid.UUID, set[aiohttp.ClientWebSocketResponse]] = {}

    def add(self, session_id: uuid.UUID, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._by_session.setdefault(session_id, set()).add(ws)

    def discard(self, session_id: uuid.UUID, ws: aiohttp.ClientWebSocketResponse) -> None:
        sockets = self._by_session.get(session_id)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                del self._by_session[session_id]

    async def interrupt(self, session_id: uuid.UUID) -> int:
        """Interrupt every execution of the session; returns how many were running."""
        sockets = list(self._by_session.get(session_id, ()))
        for ws in sockets:
            if not ws.closed:
                await ws.send_json({"interrupt": True})
        return len(sockets)


EXECUTIONS_KEY = web.AppKey("running_executions", RunningExecutions)


def _sender(ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> Sender:
    async def send(msg: aiohttp.WSMessage) -> bool:
        """Forward one frame; False when the stream is over."""
        if msg.type is aiohttp.WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type is aiohttp.WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
        else:
            return msg.type not in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            )
        return True

    return send


async def _pump(
    source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    send: Sender,
    on_frame: Callable[[], Awaitable[None]] | None = None,
) -> None:
    async for msg in source:
        if not await send(msg):
            break
        if on_frame is not None:
            await on_frame()


async def execute(request: web.Request) -> web.WebSocketResponse:
    ctx = context_of(request)
    ws = web.WebSocketResponse(max_msg_size=0)
    s = await session_from_request(request)
    target = await ctx.kernels.start_query(s)
    if not ws.can_prepare(request).ok:
        raise InvalidRequest(
            "This route speaks WebSocket: connect with an Upgrade: websocket request."
        )
    agent_ws = await ctx.agent_client.connect_execute(target.addr, target.kernel_id)
    running = request.app[EXECUTIONS_KEY]
    running.add(s.id, agent_ws)
    try:
        await ws.prepare(request)
        await ctx.idle.touch(s.id)

        async def touch() -> None:
            await ctx.idle.touch(s.id)

        await _relay(ws, agent_ws, touch, s.id)
    finally:
        running.discard(s.id, agent_ws)
        await agent_ws.close()
        await ws.close()
    return ws


async def _relay(
    ws: web.WebSocketResponse,
    agent_ws: aiohttp.ClientWebSocketResponse,
    touch: Callable[[], Awaitable[None]],
    session_id: uuid.UUID,
) -> None:
    up = asyncio.create_task(_pump(ws, _sender(agent_ws), touch), name=f"exec-up-{session_id}")
    down = asyncio.create_task(_pump(agent_ws, _sender(ws)), name=f"exec-down-{session_id}")
    try:  # either side closing ends the relay; the caller closes both sockets
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)


async def pty(request: web.Request) -> web.WebSocketResponse:
    """The session's terminal, relayed to the agent frame by frame (Backend.AI's PTY frames)."""
    ctx = context_of(request)
    ws = web.WebSocketResponse(max_msg_size=0)
    s = await session_from_request(request)
    target = await ctx.kernels.target(s)
    if not ws.can_prepare(request).ok:
        raise InvalidRequest(
            "This route speaks WebSocket: connect with an Upgrade: websocket request."
        )
    agent_ws = await ctx.agent_client.connect_stream(target.addr, target.kernel_id, "pty")
    try:
        await ws.prepare(request)

        async def touch() -> None:
            await ctx.idle.touch(s.id)

        await _relay(ws, agent_ws, touch, s.id)
    finally:
        await agent_ws.close()
        await ws.close()
    return ws


async def interrupt(request: web.Request) -> web.Response:
    """POST /session/{name}/interrupt: stop the code running in the session, keep the session."""
    s = await session_from_request(request)
    await request.app[EXECUTIONS_KEY].interrupt(s.id)
    return web.Response(status=204)


async def apps(request: web.Request) -> web.Response:
    s = await session_from_request(request)
    return web.json_response(await context_of(request).kernels.apps(s))


def setup(app: web.Application) -> None:
    app[EXECUTIONS_KEY] = RunningExecutions()
    app.router.add_get("/stream/session/{name}/execute", execute)
    app.router.add_post("/session/{name}/interrupt", interrupt)
    app.router.add_get("/stream/session/{name}/pty", pty)
    app.router.add_get("/stream/session/{name}/apps", apps)
