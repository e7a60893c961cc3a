"""``relay``: frames pass both ways, and each direction can report its traffic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from backendai.common.websockets import relay


@pytest.fixture
async def upstream() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """An app that speaks first, twice, then echoes."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_bytes(b"one")
        await ws.send_bytes(b"two")
        async for msg in ws:
            await ws.send_bytes(b"echo:" + msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_each_direction_reports_its_frames(
    upstream: TestClient[web.Request, web.Application],
) -> None:
    seen: list[str] = []

    async def client_frame() -> None:
        seen.append("client")

    async def upstream_frame() -> None:
        seen.append("upstream")

    async def front(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async with upstream.ws_connect("/") as up:
            await relay(ws, up, client_frame, upstream_frame)
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/", front)
    async with TestClient(TestServer(app)) as client, client.ws_connect("/") as ws:
        # Only the app spoke so far: a download with no keystroke is traffic too.
        assert [await ws.receive_bytes(), await ws.receive_bytes()] == [b"one", b"two"]
        await asyncio.sleep(0.05)
        assert seen == ["upstream", "upstream"]
        await ws.send_bytes(b"x")
        assert await ws.receive_bytes() == b"echo:x"
        await asyncio.sleep(0.05)
        assert seen == ["upstream", "upstream", "client", "upstream"]
        await ws.close()
    assert ws.closed and ws.close_code in (aiohttp.WSCloseCode.OK, None)
