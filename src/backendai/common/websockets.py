"""Relaying one WebSocket to another, frame by frame (manager <-> agent, webserver <-> manager)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

AnyWebSocket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse

# The largest WebSocket message any of our processes accepts, on every hop (client, webserver,
# manager, agent). aiohttp refuses a frame whose header announces more before reading its
# payload, so one hostile frame costs at most this much memory. The largest legitimate message
# is the first frame of an execution, which carries the code: 16 MiB of source is far beyond any
# notebook cell; files go through upload.
MAX_FRAME_SIZE = 16 * 2**20
_ENDED = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.ERROR,
)


async def _pump(
    source: AnyWebSocket,
    sink: AnyWebSocket,
    on_frame: Callable[[], Awaitable[None]] | None,
) -> None:
    async for msg in source:
        if msg.type is aiohttp.WSMsgType.TEXT:
            await sink.send_str(msg.data)
        elif msg.type is aiohttp.WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif msg.type in _ENDED:
            break
        else:
            continue  # pings and pongs stay on their own hop
        if on_frame is not None:
            await on_frame()


async def relay(
    client: AnyWebSocket,
    upstream: AnyWebSocket,
    on_client_frame: Callable[[], Awaitable[None]] | None = None,
    on_upstream_frame: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Pass frames both ways until either side ends; the caller closes both sockets.

    ``on_client_frame`` runs after each frame the client sent, ``on_upstream_frame`` after
    each frame that came back (e.g. to mark activity: a download through an app is use too).
    """
    up = asyncio.create_task(_pump(client, upstream, on_client_frame))
    down = asyncio.create_task(_pump(upstream, client, on_upstream_frame))
    try:
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
