"""A real app proxy in-process, in front of a fake agent and app, driven by a fake manager."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from backendai.appproxy.app import LINK, create_app
from backendai.appproxy.settings import AppProxySettings
from backendai.common.app_protocol import (
    APPPROXY_TOKEN_HEADER,
    PROXY_ROUTE,
    AppRoute,
    AppRouteSpec,
    app_cookie_name,
)
from tests.appproxy.fakes import FakeAgent, FakeManager, UpstreamApp, free_port_range, spec

TOKEN = "appproxy-test-token-0123456789"


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(runner.addresses[0][1])


@dataclass
class Proxy:
    settings: AppProxySettings
    control: str
    http: aiohttp.ClientSession  # the manager's view: the control API with the token
    agent: FakeAgent
    upstream: UpstreamApp
    manager: FakeManager
    app: web.Application
    agent_port: int

    async def put(self, route: AppRouteSpec, status: int = 200) -> Any:
        url = self.control + PROXY_ROUTE.format(route_id=route.route_id)
        async with self.http.put(url, data=route.model_dump_json()) as resp:
            body = await resp.json(content_type=None)
            assert resp.status == status, body
        return AppRoute.model_validate(body) if status == 200 else body

    async def route(self, **kw: Any) -> tuple[AppRouteSpec, AppRoute]:
        s = spec(self.agent_port, **kw)
        return s, await self.put(s)


ProxyFactory = Callable[..., Awaitable[Proxy]]


@pytest.fixture
async def start_proxy(tmp_path: Path) -> AsyncIterator[ProxyFactory]:
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []
    upstream = UpstreamApp()
    up_runner, upstream.port = await _serve(upstream.handler_app())
    runners.append(up_runner)
    agent = FakeAgent(upstream.port)
    agent_runner, agent_port = await _serve(agent.handler_app())
    runners.append(agent_runner)
    manager = FakeManager()
    manager_runner, manager_port = await _serve(manager.handler_app())
    runners.append(manager_runner)
    pool = free_port_range(6)

    async def start(**overrides: Any) -> Proxy:
        values: dict[str, Any] = {
            "port": 0,
            "port_range": f"{pool.start}-{pool.stop - 1}",
            "data_dir": tmp_path,
            "token": TOKEN,
            "manager_url": f"http://127.0.0.1:{manager_port}",
            "activity_interval": 0.2,
            **overrides,
        }
        settings = AppProxySettings(**values)
        app = create_app(settings)
        runner, port = await _serve(app)
        runners.append(runner)
        http = aiohttp.ClientSession(headers={APPPROXY_TOKEN_HEADER: TOKEN})
        sessions.append(http)
        control = f"http://127.0.0.1:{port}"
        proxy = Proxy(settings, control, http, agent, upstream, manager, app, agent_port)
        link = app[LINK]
        if link is not None and manager.fail_first == 0:
            await link.restored.wait()
        return proxy

    yield start
    for s in sessions:
        await s.close()
    for r in reversed(runners):
        await r.cleanup()


@pytest.fixture
async def proxy(start_proxy: ProxyFactory) -> Proxy:
    return await start_proxy()


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that sends exactly the cookies a test gives it and follows no redirect."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


def cookie(route: AppRoute, token: str) -> dict[str, str]:
    return {"Cookie": f"{app_cookie_name(route.port)}={token}"}
