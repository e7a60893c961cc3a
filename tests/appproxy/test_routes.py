"""The control API: ports from the pool, replace, delete, restart from the manager, activity."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from backendai.appproxy.app import LINK
from backendai.common.app_protocol import (
    PROXY_ROUTE,
    PROXY_ROUTES,
    PROXY_STATUS,
    AppRoute,
    ProxyStatus,
)
from tests.appproxy.conftest import Proxy, ProxyFactory, cookie
from tests.appproxy.fakes import spec


async def test_the_control_api_needs_the_token(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as anyone:
        for headers in ({}, {"X-BackendAI-AppProxy-Token": "wrong-token-wrong-token"}):
            async with anyone.get(proxy.control + PROXY_STATUS, headers=headers) as resp:
                assert resp.status == 401
                assert (await resp.json())["type"].endswith("/auth-failed")


async def test_status_and_list(proxy: Proxy) -> None:
    _, a = await proxy.route()
    _, b = await proxy.route(public=True)
    async with proxy.http.get(proxy.control + PROXY_STATUS) as resp:
        status = ProxyStatus.model_validate(await resp.json())
    assert status == ProxyStatus(id="main", ports=6, routes=2)
    async with proxy.http.get(proxy.control + PROXY_ROUTES) as resp:
        listed = [AppRoute.model_validate(r) for r in await resp.json()]
    assert sorted(listed, key=lambda r: r.port) == sorted([a, b], key=lambda r: r.port)
    assert a.url == f"http://127.0.0.1:{a.port}/"


async def test_preferred_port_then_fallback_then_pool_exhausted(proxy: Proxy) -> None:
    pool = proxy.settings.ports
    _, first = await proxy.route(preferred_port=pool[3])
    assert first.port == pool[3]
    _, second = await proxy.route(preferred_port=pool[3])  # taken: any free one
    assert second.port in pool and second.port != pool[3]
    _, outside = await proxy.route(preferred_port=1)  # not in the pool: ignored
    assert outside.port in pool
    for _ in range(3):
        await proxy.route()
    body = await proxy.put(spec(proxy.agent_port), status=503)
    assert body["type"].endswith("/appproxy-unavailable")


async def test_a_port_taken_by_another_program_is_skipped(proxy: Proxy) -> None:
    import socket

    pool = proxy.settings.ports
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", pool[0]))
        squatter.listen()
        _, route = await proxy.route(preferred_port=pool[0])
    assert route.port == pool[1]


async def test_replacing_keeps_the_port_and_applies_the_new_token(
    proxy: Proxy, browser: aiohttp.ClientSession
) -> None:
    s, route = await proxy.route()
    new = s.model_copy(update={"token": uuid.uuid4().hex, "preferred_port": None})
    replaced = await proxy.put(new)
    assert replaced.port == route.port
    async with browser.get(f"{route.url}echo", headers=cookie(route, s.token)) as resp:
        assert resp.status == 403
    async with browser.get(f"{route.url}echo", headers=cookie(route, new.token)) as resp:
        assert resp.status == 200
    public = await proxy.put(new.model_copy(update={"public": True}))
    assert public.public and public.port == route.port
    async with browser.get(f"{route.url}echo") as resp:
        assert resp.status == 200


async def test_making_a_route_private_cuts_its_live_connections(
    proxy: Proxy, browser: aiohttp.ClientSession
) -> None:
    s, route = await proxy.route(public=True)
    async with browser.ws_connect(f"{route.url}ws") as ws:
        await ws.send_str("a")
        assert await ws.receive_str(timeout=5) == "echo:a"
        await proxy.put(s.model_copy(update={"public": False, "token": uuid.uuid4().hex}))
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_delete_closes_live_connections_and_refuses_new_ones(
    proxy: Proxy, browser: aiohttp.ClientSession
) -> None:
    s, route = await proxy.route()
    async with browser.ws_connect(f"{route.url}ws", headers=cookie(route, s.token)) as ws:
        await ws.send_str("a")
        assert await ws.receive_str(timeout=5) == "echo:a"
        async with proxy.http.delete(proxy.control + PROXY_ROUTE.format(route_id=s.route_id)) as r:
            assert r.status == 204
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with browser.get(f"{route.url}echo", headers=cookie(route, s.token)):
            pass
    async with proxy.http.delete(proxy.control + PROXY_ROUTE.format(route_id=s.route_id)) as r:
        assert r.status == 204  # unknown: 204 too


async def test_a_route_id_that_differs_from_the_path_is_refused(proxy: Proxy) -> None:
    s = spec(proxy.agent_port)
    url = proxy.control + PROXY_ROUTE.format(route_id=uuid.uuid4())
    async with proxy.http.put(url, data=s.model_dump_json()) as resp:
        assert resp.status == 400


async def test_a_restarted_proxy_serves_the_managers_routes_on_the_same_ports(
    start_proxy: ProxyFactory, browser: aiohttp.ClientSession
) -> None:
    first = await start_proxy()
    s, route = await first.route()
    _, public = await first.route(public=True, preferred_port=first.settings.ports[4])
    first.manager.routes = [
        s.model_copy(update={"port": route.port}),
        spec(first.agent_port, public=True, port=public.port),
    ]
    await first.app.shutdown()
    await first.app.cleanup()
    first.manager.fail_first = 3  # the manager is still starting too
    second = await start_proxy()
    link = second.app[LINK]
    assert link is not None
    async with asyncio.timeout(10):
        await link.restored.wait()  # after 3 refusals: it kept asking without blocking start
    assert len(second.manager.asked) == 1 + 3 + 1  # the first start, 3 refused, 1 answered
    async with browser.get(f"{route.url}echo", headers=cookie(route, s.token)) as resp:
        assert resp.status == 200
    async with browser.get(f"http://127.0.0.1:{public.port}/echo") as resp:
        assert resp.status == 200
    assert set(second.manager.asked) == {"main"}


async def test_activity_is_reported_for_sessions_that_carried_bytes(
    proxy: Proxy, browser: aiohttp.ClientSession
) -> None:
    s, route = await proxy.route()
    await proxy.route()  # idle: never reported
    async with browser.get(f"{route.url}echo", headers=cookie(route, s.token)) as resp:
        assert resp.status == 200
    async with asyncio.timeout(5):
        await proxy.manager.reported.wait()
    assert proxy.manager.activity[0] == {"proxy": "main", "session_ids": [str(s.session_id)]}
    await asyncio.sleep(0.5)
    assert len(proxy.manager.activity) == 1  # nothing new carried: nothing new reported
