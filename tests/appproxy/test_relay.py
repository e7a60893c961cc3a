"""Bytes through a route: bodies, big downloads, WebSockets, pipelining, failures, limits."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tracemalloc
from collections.abc import AsyncIterator

import aiohttp

from tests.appproxy.conftest import Proxy, cookie
from tests.appproxy.fakes import APP_LOG, big_digest


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(10):
        return await reader.read()


async def test_websocket_upgrade_through_the_proxy(
    proxy: Proxy, browser: aiohttp.ClientSession
) -> None:
    s, route = await proxy.route()
    headers = {**cookie(route, s.token), "Origin": route.url.rstrip("/")}
    async with browser.ws_connect(f"{route.url}ws", headers=headers) as ws:
        await ws.send_str("hello")
        assert await ws.receive_str(timeout=5) == "echo:hello"
        payload = os.urandom(3 * 2**20)
        await ws.send_bytes(payload)
        assert await ws.receive_bytes(timeout=10) == payload
    assert proxy.upstream.seen[-1] == {"path": "/ws", "cookie": None}


async def test_chunked_upload_arrives_intact(proxy: Proxy, browser: aiohttp.ClientSession) -> None:
    s, route = await proxy.route()
    pieces = [os.urandom(n) for n in (1, 70_000, 1_000_000, 5, 3 * 2**20)]

    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    async with browser.post(
        f"{route.url}upload", data=body(), headers=cookie(route, s.token)
    ) as resp:
        assert resp.status == 200
        doc = await resp.json()
    whole = b"".join(pieces)
    assert doc["size"] == len(whole)
    assert doc["sha256"] == hashlib.sha256(whole).hexdigest()


async def test_content_length_upload_and_64_mib_download_intact(
    proxy: Proxy, browser: aiohttp.ClientSession
) -> None:
    s, route = await proxy.route()
    data = os.urandom(8 * 2**20)
    async with browser.post(f"{route.url}upload", data=data, headers=cookie(route, s.token)) as r:
        assert (await r.json())["sha256"] == hashlib.sha256(data).hexdigest()
    size = 64 * 2**20
    h, got = hashlib.sha256(), 0
    async with browser.get(f"{route.url}big?size={size}", headers=cookie(route, s.token)) as r:
        assert r.status == 200
        async for chunk in r.content.iter_chunked(2**20):
            h.update(chunk)
            got += len(chunk)
    assert got == size
    assert h.hexdigest() == big_digest(size)
    assert proxy.agent.tunnels == 1  # one tunnel for the keep-alive connection


async def test_pipelined_requests_are_answered_in_order_and_a_refusal_comes_last(
    proxy: Proxy,
) -> None:
    s, route = await proxy.route()
    reader, writer = await asyncio.open_connection("127.0.0.1", route.port)
    good = (
        f"GET /echo/{{}} HTTP/1.1\r\nHost: x\r\n"
        f"Cookie: backendai_app_{route.port}={s.token}\r\n\r\n"
    )
    writer.write(
        (good.format(1) + good.format(2) + "GET /echo/3 HTTP/1.1\r\nHost: x\r\n\r\n").encode()
    )
    await writer.drain()
    answer = await _read_until_closed(reader)
    writer.close()
    first, second, third = (answer.index(m) for m in (b"/echo/1", b"/echo/2", b"403 Forbidden"))
    assert first < second < third
    assert answer.count(b"HTTP/1.1 200 OK") == 2


async def test_a_refused_upgrade_goes_back_to_checked_http(proxy: Proxy) -> None:
    """Only a 101 makes a raw relay: after a refused upgrade, the next request is still
    parsed, and its app cookies are still removed."""
    _, route = await proxy.route(public=True)
    reader, writer = await asyncio.open_connection("127.0.0.1", route.port)
    writer.write(
        b"GET /noupgrade HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Content-Length: 0\r\n\r\n"
        b"GET /echo HTTP/1.1\r\nHost: x\r\nCookie: backendai_app_1=leak; a=b\r\n"
        b"Connection: close\r\n\r\n"
    )
    answer = await _read_until_closed(reader)
    writer.close()
    assert b"400 Bad Request" in answer
    body = answer[answer.rindex(b"\r\n\r\n") + 4 :]
    assert json.loads(body)["cookie"] == "a=b"


async def test_a_tunnel_failure_answers_502_with_the_agents_problem(
    proxy: Proxy, browser: aiohttp.ClientSession
) -> None:
    s, route = await proxy.route(app="broken")
    async with browser.get(f"{route.url}echo", headers=cookie(route, s.token)) as resp:
        assert resp.status == 502
        assert resp.content_type == "application/problem+json"
        doc = await resp.json(content_type=None)
    assert doc["type"].endswith("/app-start-failed")
    assert APP_LOG in doc["msg"]


async def test_an_unreachable_agent_answers_502(
    proxy: Proxy, browser: aiohttp.ClientSession
) -> None:
    s, route = await proxy.route()
    await proxy.put(s.model_copy(update={"agent_addr": "http://127.0.0.1:1"}))
    async with browser.get(f"{route.url}echo", headers=cookie(route, s.token)) as resp:
        assert resp.status == 502
        doc = await resp.json(content_type=None)
    assert doc["type"].endswith("/agent-unreachable")


async def test_a_huge_header_gets_431_without_buffering_it(proxy: Proxy) -> None:
    _, route = await proxy.route(public=True)
    reader, writer = await asyncio.open_connection("127.0.0.1", route.port)
    tracemalloc.start()
    try:
        writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        try:
            for _ in range(64):  # up to 1 MiB of one header value, 16 KiB at a time
                writer.write(b"a" * 16384)
                await writer.drain()
                sent += 16384
                await asyncio.sleep(0.002)
        except ConnectionError:
            pass
        answer = await _read_until_closed(reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert peak < 1024 * 1024  # never the whole megabyte at once
    assert proxy.agent.tunnels == 0


async def test_a_slow_head_is_cut_off(start_proxy: object) -> None:
    proxy: Proxy = await start_proxy(head_timeout=0.3)  # type: ignore[operator]
    _, route = await proxy.route(public=True)
    reader, writer = await asyncio.open_connection("127.0.0.1", route.port)
    writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
    await writer.drain()
    answer = await _read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")


async def test_invalid_http_gets_400(proxy: Proxy) -> None:
    _, route = await proxy.route(public=True)
    reader, writer = await asyncio.open_connection("127.0.0.1", route.port)
    writer.write(b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
    answer = await _read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert proxy.upstream.seen == []
