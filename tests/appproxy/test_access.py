"""Who passes a route's port, and what the app behind it gets to see."""

from __future__ import annotations

import aiohttp

from backendai.common.app_protocol import app_cookie_name
from tests.appproxy.conftest import Proxy, cookie


async def test_private_route_refuses_a_request_without_token(
    proxy: Proxy, browser: aiohttp.ClientSession
) -> None:
    _, route = await proxy.route()
    async with browser.get(f"{route.url}echo") as resp:
        assert resp.status == 403
        assert "private" in await resp.text()
        assert resp.headers["Connection"] == "close"
    assert proxy.upstream.seen == []
    assert proxy.agent.tunnels == 0


async def test_token_link_redirects_with_cookie_then_the_cookie_lets_in(
    proxy: Proxy, browser: aiohttp.ClientSession
) -> None:
    s, route = await proxy.route()
    async with browser.get(
        f"{route.url}echo/a?x=1&app_token={s.token}&y=2", allow_redirects=False
    ) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == "/echo/a?x=1&y=2"
        set_cookie = resp.headers["Set-Cookie"]
        assert set_cookie == (
            f"{app_cookie_name(route.port)}={s.token}; HttpOnly; SameSite=Lax; Path=/"
        )
        assert resp.headers["Cache-Control"] == "no-store"
    assert proxy.upstream.seen == []  # the token link itself never reaches the app
    async with browser.get(f"{route.url}echo/a?x=1&y=2", headers=cookie(route, s.token)) as resp:
        assert resp.status == 200
        doc = await resp.json()
    assert doc["path"] == "/echo/a?x=1&y=2"
    assert doc["cookie"] is None  # the route's cookie stays with the proxy


async def test_a_wrong_token_link_is_refused(proxy: Proxy, browser: aiohttp.ClientSession) -> None:
    _, route = await proxy.route()
    async with browser.get(f"{route.url}echo?app_token=guess") as resp:
        assert resp.status == 403
        assert "not valid" in await resp.text()


async def test_another_routes_token_and_cookie_are_refused(
    proxy: Proxy, browser: aiohttp.ClientSession
) -> None:
    a, route_a = await proxy.route()
    b, route_b = await proxy.route()
    async with browser.get(f"{route_a.url}echo?app_token={b.token}") as resp:
        assert resp.status == 403
    # B's cookie (named for B's port), and B's token under A's cookie name: both refused.
    for headers in (cookie(route_b, b.token), cookie(route_a, b.token)):
        async with browser.get(f"{route_a.url}echo", headers=headers) as resp:
            assert resp.status == 403
    async with browser.get(f"{route_a.url}echo", headers=cookie(route_a, a.token)) as resp:
        assert resp.status == 200


async def test_public_route_needs_no_token_on_its_own_port_only(
    proxy: Proxy, browser: aiohttp.ClientSession
) -> None:
    _, public = await proxy.route(public=True)
    _, private = await proxy.route()
    assert public.public and public.port != private.port
    async with browser.get(f"{public.url}echo") as resp:
        assert resp.status == 200
        assert (await resp.json())["path"] == "/echo"
    async with browser.get(f"{private.url}echo") as resp:
        assert resp.status == 403


async def test_app_cookies_and_token_never_reach_an_app(
    proxy: Proxy, browser: aiohttp.ClientSession
) -> None:
    """Another user's public app must never learn a private route's token."""
    _, public = await proxy.route(public=True)
    headers = {
        "Cookie": f"theme=dark; {app_cookie_name(10200)}=secret-a; "
        f"{app_cookie_name(public.port)}=secret-b; session=42; AIOHTTP_SESSION=the-login"
    }
    async with browser.get(
        f"{public.url}echo?app_token=secret-c&page=2&%61pp_token=secret-d", headers=headers
    ) as resp:
        assert resp.status == 200
    seen = proxy.upstream.seen[-1]
    # The web UI's login cookie (the proxy's default hidden_cookies) goes nowhere either:
    # browsers send it to every port of the host.
    assert seen["cookie"] == "theme=dark; session=42"
    assert seen["path"] == "/echo?page=2"
    headers = {"Cookie": f"{app_cookie_name(10200)}=secret-a"}
    async with browser.get(f"{public.url}echo", headers=headers) as resp:
        assert resp.status == 200
    assert proxy.upstream.seen[-1]["cookie"] is None  # only app cookies: no header at all


async def test_a_foreign_origin_is_refused_on_a_private_route(
    proxy: Proxy, browser: aiohttp.ClientSession
) -> None:
    s, route = await proxy.route()
    _, other = await proxy.route(public=True)
    foreign = {**cookie(route, s.token), "Origin": f"http://127.0.0.1:{other.port}"}
    async with browser.post(f"{route.url}echo", headers=foreign) as resp:
        assert resp.status == 403
        assert "Origin" in await resp.text()
    own = {**cookie(route, s.token), "Origin": route.url.rstrip("/")}
    async with browser.post(f"{route.url}echo", headers=own) as resp:
        assert resp.status == 200
        assert (await resp.json())["origin"] == route.url.rstrip("/")
    # A WebSocket from a page of the other app: the hijack this check exists for.
    try:
        async with browser.ws_connect(f"{route.url}ws", headers=foreign):
            raise AssertionError("the cross-site WebSocket was let through")
    except aiohttp.WSServerHandshakeError as e:
        assert e.status == 403
