"""WebSocket frames are bounded on every hop a user can reach: one 400 MiB frame took 2 GiB.

The frame is crafted by hand on a raw socket (header announcing 400 MiB, then a little of the
payload), so that the test process does not hold 400 MiB itself: the server must refuse it
from the header (close code 1009, "message too big") without reading or buffering it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import AsyncIterator

import aiohttp
import pytest
from yarl import URL

from backendai.common.websockets import MAX_FRAME_SIZE
from tests.fixtures.live import LiveServer
from tests.security.conftest import Tenant, within

pytestmark = [pytest.mark.slow, pytest.mark.docker]

ANNOUNCED = 400 * 2**20
MESSAGE_TOO_BIG = 1009


async def _raw_upgrade(
    endpoint: str, path: str, headers: dict[str, str]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = URL(endpoint)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {url.host}:{url.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head.decode(errors="replace")
    return reader, writer


async def _send_oversized_frame(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    """Announce a 400 MiB binary frame and send the start of it, in one segment (data left
    unread when the server closes would make its kernel answer with a reset instead of the
    close frame); the close code the server answers."""
    mask = os.urandom(4)
    header = bytes([0x82, 0x80 | 127]) + struct.pack("!Q", ANNOUNCED) + mask
    writer.write(header + bytes(1024))
    await writer.drain()
    header = await asyncio.wait_for(reader.readexactly(2), 10)
    assert header[0] & 0x0F == 0x8, f"expected a close frame, got opcode {header[0] & 0x0F}"
    length = header[1] & 0x7F
    body = await reader.readexactly(length)
    writer.close()
    return int(struct.unpack("!H", body[:2])[0]) if length >= 2 else 0


@pytest.fixture
async def alice_session(tenants: dict[str, Tenant]) -> AsyncIterator[str]:
    async with tenants["alice"].sdk() as api:
        session = await api.ComputeSession.get_or_create("python", name="frames-alice")
        try:
            yield "frames-alice"
        finally:
            await session.destroy()


def _stream_headers(tenant: Tenant, path: str) -> dict[str, str]:
    headers = tenant.headers("GET", path, "application/octet-stream")
    del headers["Content-Type"]
    return headers


async def test_the_manager_refuses_a_huge_frame_from_its_header(
    live_server: LiveServer, tenants: dict[str, Tenant], alice_session: str
) -> None:
    alice, bob = tenants["alice"], tenants["bob"]
    path = f"/stream/session/{alice_session}/execute"
    before = live_server.rss()
    reader, writer = await _raw_upgrade(live_server.endpoint, path, _stream_headers(alice, path))
    assert await _send_oversized_frame(reader, writer) == MESSAGE_TOO_BIG
    (status, _), _ = await within(2, lambda: bob.call("GET", "/"))  # others unaffected
    assert status == 200
    assert live_server.rss() - before < 64 * 2**20


async def test_the_webserver_refuses_a_huge_frame_from_its_header(
    live_server: LiveServer, tenants: dict[str, Tenant], alice_session: str
) -> None:
    alice = tenants["alice"]
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            live_server.webserver + "/server/login",
            json={"username": alice.email, "password": alice.password},
        )
        assert resp.status == 200, await resp.text()
        cookie = "; ".join(f"{k}={m.value}" for k, m in resp.cookies.items())
    path = f"/func/stream/session/{alice_session}/execute"
    before = live_server.rss()
    reader, writer = await _raw_upgrade(live_server.webserver, path, {"Cookie": cookie})
    assert await _send_oversized_frame(reader, writer) == MESSAGE_TOO_BIG
    assert live_server.rss() - before < 64 * 2**20


async def test_a_frame_within_the_bound_still_passes(
    tenants: dict[str, Tenant], alice_session: str
) -> None:
    """Code of several MiB (below MAX_FRAME_SIZE) still runs: the bound is not too tight."""
    code = "x = '" + "a" * (4 * 2**20) + "'\nprint(len(x))"
    assert len(code) < MAX_FRAME_SIZE
    async with tenants["alice"].sdk() as api:
        result = await api.ComputeSession(alice_session).execute(code, mode="query")
    assert ["stdout", f"{4 * 2**20}\n"] in [list(c) for c in result["console"]]
