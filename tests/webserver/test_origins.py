"""Cross-site requests: a page on another site may not act with a user's login cookie."""

from __future__ import annotations

import ssl
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from backendai.common.forwarding import TrustedProxies
from backendai.webserver.origins import OriginGuard, own_origin, parse_origin, public_scheme
from tests.fixtures.platform import ManagerHarness, WebserverHarness, running_webserver

PROBS = "https://api.backend.ai/probs/"
EVIL = "https://evil.example"
GQL = {"query": "{ keypair { access_key } }"}


def test_origins_compare_with_explicit_ports() -> None:
    assert parse_origin("http://Host.Example") == ("http", "host.example", 80)
    assert parse_origin("http://host.example:80") == parse_origin("http://host.example")
    assert parse_origin("https://[::1]:8443") == ("https", "::1", 8443)
    for bad in ("null", "", "file://x", "http://h/path", "ftp://h", "http://u@h", "http://h:99999"):
        assert parse_origin(bad) is None, bad


def _request(
    method: str, headers: dict[str, str], peer: str = "127.0.0.1", tls: bool = False
) -> web.Request:
    """A request as it reaches the webserver from ``peer``, over TLS or not."""
    context = ssl.create_default_context() if tls else None
    transport = mock.Mock()
    info = {"peername": (peer, 40000), "sslcontext": context}
    transport.get_extra_info.side_effect = lambda key, default=None: info.get(key, default)
    return make_mocked_request(
        method, "/func/x", headers=headers, transport=transport, sslcontext=context
    )


def test_own_origin_believes_forwarded_headers_only_from_trusted_proxies() -> None:
    headers = {
        "Host": "127.0.0.1:8090",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "ui.example.com",
    }
    request = _request("POST", headers)
    assert own_origin(request, TrustedProxies([])) == ("http", "127.0.0.1", 8090)
    assert own_origin(request, TrustedProxies(["127.0.0.1"])) == ("https", "ui.example.com", 443)
    from_elsewhere = _request("POST", headers, peer="10.0.0.5")
    assert own_origin(from_elsewhere, TrustedProxies(["127.0.0.1"])) == ("http", "127.0.0.1", 8090)


def test_a_tls_connection_is_https() -> None:
    request = _request("POST", {"Host": "ui.example.com"}, tls=True)
    assert public_scheme(request, TrustedProxies([])) == "https"
    assert own_origin(request, TrustedProxies([])) == ("https", "ui.example.com", 443)


def test_get_and_non_browser_requests_pass() -> None:
    guard = OriginGuard(TrustedProxies([]), [])
    guard.check(_request("GET", {"Origin": EVIL, "Host": "h"}))
    guard.check(_request("POST", {"Host": "h"}))
    guard.check(make_mocked_request("POST", "/other", headers={"Origin": EVIL, "Host": "h"}))


async def _logged_in(webserver: WebserverHarness) -> None:
    demo = webserver.manager.users.demo
    assert (await webserver.login(demo.email, demo.password)).status == 200


async def test_cross_site_post_is_refused(webserver: WebserverHarness) -> None:
    await _logged_in(webserver)
    refused = await webserver.client.post("/func/admin/gql", json=GQL, headers={"Origin": EVIL})
    assert refused.status == 403
    body = await refused.json()
    assert body["type"] == PROBS + "insufficient-privilege"
    assert "Cross-site request refused" in body["msg"]
    assert EVIL in body["msg"]
    for origin in ("null", f"{webserver.origin}.evil.example", "http://localhost:1"):
        other = await webserver.client.post("/func/admin/gql", json=GQL, headers={"Origin": origin})
        assert other.status == 403, origin


async def test_same_origin_and_originless_posts_pass(webserver: WebserverHarness) -> None:
    await _logged_in(webserver)
    same = await webserver.client.post(
        "/func/admin/gql", json=GQL, headers={"Origin": webserver.origin}
    )
    assert same.status == 200
    cli = await webserver.client.post("/func/admin/gql", json=GQL)
    assert cli.status == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_other_state_changing_methods_are_checked(
    webserver: WebserverHarness, method: str
) -> None:
    await _logged_in(webserver)
    refused = await webserver.client.request(
        method, "/func/session/nothing", headers={"Origin": EVIL}
    )
    assert refused.status == 403


async def test_cross_site_login_and_logout_are_refused(webserver: WebserverHarness) -> None:
    demo = webserver.manager.users.demo
    login = await webserver.client.post(
        "/server/login",
        json={"username": demo.email, "password": demo.password},
        headers={"Origin": EVIL},
    )
    assert login.status == 403
    await _logged_in(webserver)
    logout = await webserver.client.post("/server/logout", headers={"Origin": EVIL})
    assert logout.status == 403
    check = await webserver.client.post("/server/login-check")
    assert (await check.json())["authenticated"] is True


async def test_cross_site_websocket_is_refused(webserver: WebserverHarness) -> None:
    await _logged_in(webserver)
    path = "/func/stream/session/no-such-session/execute"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await webserver.client.ws_connect(path, origin=EVIL)
    assert refused.value.status == 403
    # Without Origin the upgrade passes the check and reaches the manager (no such session).
    with pytest.raises(aiohttp.WSServerHandshakeError) as passed:
        await webserver.client.ws_connect(path)
    assert passed.value.status == 404


async def test_allowed_origins_are_let_through(manager: ManagerHarness) -> None:
    async with running_webserver(manager, allowed_origins=["https://ui.example.com"]) as webserver:
        await _logged_in(webserver)
        allowed = await webserver.client.post(
            "/func/admin/gql", json=GQL, headers={"Origin": "https://ui.example.com:443"}
        )
        assert allowed.status == 200
        other_port = await webserver.client.post(
            "/func/admin/gql", json=GQL, headers={"Origin": "https://ui.example.com:8443"}
        )
        assert other_port.status == 403


async def test_the_origin_behind_a_trusted_proxy(manager: ManagerHarness) -> None:
    proxied = {
        "Origin": "https://ui.example.com",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "ui.example.com",
    }
    async with running_webserver(manager, trusted_proxies=["127.0.0.1"]) as webserver:
        await _logged_in(webserver)
        resp = await webserver.client.post("/func/admin/gql", json=GQL, headers=proxied)
        assert resp.status == 200
    async with running_webserver(manager) as webserver:  # no proxy trusted: headers forged
        await _logged_in(webserver)
        resp = await webserver.client.post("/func/admin/gql", json=GQL, headers=proxied)
        assert resp.status == 403


def test_bad_settings_stop_the_start() -> None:
    from pydantic import ValidationError

    from backendai.webserver.settings import WebserverSettings

    with pytest.raises(ValidationError, match="not an origin"):
        WebserverSettings(allowed_origins=["ui.example.com"])
    with pytest.raises(ValidationError, match="not an IP address"):
        WebserverSettings(trusted_proxies=["proxy.local"])
