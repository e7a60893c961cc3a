"""Apps' connections handed to an app proxy on the same host (``agent/app_handoff.py``, and the
proxy's side ``appproxy/local_tunnel.py``): the real agent (with a fake runner), its handoff
socket, and the real app proxy serving a route through it."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from backendai.appproxy.app import create_app as create_proxy
from backendai.appproxy.local_tunnel import _ask
from backendai.appproxy.settings import AppProxySettings
from backendai.common.app_protocol import (
    APP_TOKEN_QUERY,
    APPPROXY_TOKEN_HEADER,
    PROXY_ROUTE,
    AppRoute,
    AppRouteSpec,
    make_tunnel_ticket,
)
from tests.agent.conftest import TOKEN
from tests.agent.test_apps import Setup, setup  # noqa: F401  (the fixture)
from tests.appproxy.fakes import free_port_range

UNREACHABLE = "http://127.0.0.1:9"  # nothing answers there: only the handoff can serve


def route_spec(s: Setup, app: str = "ttyd", ticket: str | None = None) -> AppRouteSpec:
    kernel_id = uuid.UUID(s.kernel_id)
    return AppRouteSpec(
        route_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        kernel_id=kernel_id,
        app=app,
        protocol="http",
        agent_addr=UNREACHABLE,
        ticket=ticket or make_tunnel_ticket(TOKEN, kernel_id, app),
        token="route-token-0123456789",
    )


async def serve_http(s: Setup) -> None:
    async def hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()
                return
            target = head.split(b" ", 2)[1]
            body = b"hello from the app at " + target
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    await s.serve_app(hello)


def handoff_path(s: Setup) -> Path:
    path = s.agent.settings.app_handoff_socket
    assert path.exists()
    return path


async def test_a_valid_ticket_gets_the_apps_connection(setup: Setup) -> None:  # noqa: F811
    await serve_http(setup)
    fd, answer = await _ask(handoff_path(setup), route_spec(setup))
    assert answer == {"ok": True} and fd is not None
    app = socket.socket(fileno=fd)
    assert app.type == socket.SOCK_STREAM and app.family == socket.AF_INET
    reader, writer = await asyncio.open_connection(sock=app)
    writer.write(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert await reader.readexactly(24) == b"hello from the app at /x"
    writer.close()


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"ticket": "forged"}, 401, "auth-failed"),
        ({"app": "sshd"}, 401, "auth-failed"),  # a ticket for ttyd opens no other app
        ({"app": "nope", "ticket": "T:nope"}, 404, "app-not-found"),
        ({"kernel_id": uuid.uuid4(), "ticket": "T:kernel"}, 404, "kernel-not-found"),
    ],
)
async def test_refusals(
    setup: Setup,  # noqa: F811
    change: dict[str, object],
    status: int,
    code: str,
) -> None:
    spec = route_spec(setup).model_copy(update=change)
    if spec.ticket.startswith("T:"):  # a valid ticket, for what is asked
        spec = spec.model_copy(
            update={"ticket": make_tunnel_ticket(TOKEN, spec.kernel_id, spec.app)}
        )
    fd, answer = await _ask(handoff_path(setup), spec)
    assert fd is None and answer["ok"] is False and answer["status"] == status
    assert answer["problem"]["type"].endswith("/" + code)  # type: ignore[index]


async def test_a_failing_app_answers_with_its_log(setup: Setup) -> None:  # noqa: F811
    setup.runner.fail["ttyd"] = (502, "ttyd exited with 1; its log ends with:\nbad option")
    fd, answer = await _ask(handoff_path(setup), route_spec(setup))
    assert fd is None and answer["status"] == 502
    assert answer["problem"]["msg"].endswith("bad option")  # type: ignore[index]


async def test_a_malformed_request_is_refused(setup: Setup) -> None:  # noqa: F811
    reader, writer = await asyncio.open_unix_connection(str(handoff_path(setup)))
    writer.write(b'{"app": 1}\n')
    line = await reader.readline()
    writer.close()
    assert b'"status": 400' in line and b"malformed" in line


@pytest.fixture
async def proxy(setup: Setup, short_dir: Path) -> AsyncIterator[tuple[str, AppProxySettings]]:  # noqa: F811
    pool = free_port_range(2)
    settings = AppProxySettings(
        port=0,
        port_range=f"{pool.start}-{pool.stop - 1}",
        data_dir=short_dir,
        token="proxy-token-0123456789",
        local_agents={UNREACHABLE: handoff_path(setup)},
    )
    runner = web.AppRunner(create_proxy(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", settings
    await runner.cleanup()


async def test_the_proxy_serves_a_route_through_the_handoff(
    setup: Setup,  # noqa: F811
    proxy: tuple[str, AppProxySettings],
) -> None:
    await serve_http(setup)
    control, settings = proxy
    spec = route_spec(setup)
    headers = {APPPROXY_TOKEN_HEADER: settings.token or ""}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        resp = await http.put(
            control + PROXY_ROUTE.format(route_id=spec.route_id),
            json=spec.model_dump(mode="json"),
            headers=headers,
        )
        route = AppRoute.model_validate(await resp.json())
        url = f"http://127.0.0.1:{route.port}/page"
        resp = await http.get(f"{url}?{APP_TOKEN_QUERY}={spec.token}", allow_redirects=False)
        assert resp.status == 302
        cookie = resp.headers["Set-Cookie"].split(";", 1)[0]
        for _ in range(3):  # keep-alive requests over the one handed-over connection
            resp = await http.get(url, headers={"Cookie": cookie})
            assert resp.status == 200
            assert await resp.text() == "hello from the app at /page"
    # No tunnel was asked of the agent's API (its address answers nothing): the handoff served.
    assert [m["op"] for m in setup.runner.received].count("connect") == 1
