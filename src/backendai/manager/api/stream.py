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

from backendai.manager.api.session import session_from_request
from backendai.manager.context import context_of

Sender = Callable[[aiohttp.WSMessage], Awaitable[bool]]


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
    s = await session_from_request(request)
    target = await ctx.kernels.start_query(s)
    agent_ws = await ctx.agent_client.connect_execute(target.addr, target.kernel_id)
    ws = web.WebSocketResponse(max_msg_size=0)
    try:
        await ws.prepare(request)
        await ctx.idle.touch(s.id)

        async def touch() -> None:
            await ctx.idle.touch(s.id)

        await _relay(ws, agent_ws, touch, s.id)
    finally:
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


async def apps(request: web.Request) -> web.Response:
    s = await session_from_request(request)
    return web.json_response(await context_of(request).kernels.apps(s))


def setup(app: web.Application) -> None:
    app.router.add_get("/stream/session/{name}/execute", execute)
    app.router.add_get("/stream/session/{name}/apps", apps)
