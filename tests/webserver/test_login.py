"""Session mode: email/password login with a cookie, forwarding, logout and lock-out."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.webserver.app import create_app as create_webserver_app
from backendai.webserver.settings import WebserverSettings
from tests.fixtures.platform import (
    ManagerHarness,
    WebserverHarness,
    running_manager,
    running_webserver,
)

PROBS = "https://api.backend.ai/probs/"


async def test_version_probe_without_login(webserver: WebserverHarness) -> None:
    resp = await webserver.client.get("/func/")
    assert resp.status == 200
    assert (await resp.json())["version"] == "v6.20210815"


async def test_login_then_forwarded_graphql(webserver: WebserverHarness) -> None:
    demo = webserver.manager.users.demo
    resp = await webserver.login(demo.email, demo.password)
    assert resp.status == 200
    body = await resp.json()
    assert body["authenticated"] is True
    assert body["data"]["access_key"] == demo.access_key
    assert "secret_key" not in body["data"]
    assert "AIOHTTP_SESSION" in resp.cookies
    gql = await webserver.client.post(
        "/func/admin/gql", json={"query": "query { keypair { access_key is_admin } }"}
    )
    assert gql.status == 200
    assert (await gql.json())["data"]["keypair"] == {
        "access_key": demo.access_key, "is_admin": False
    }  # fmt: skip
    announcement = await webserver.client.get("/func/manager/announcement")
    assert await announcement.json() == {"enabled": False, "message": ""}


async def test_forwarded_errors_keep_their_status(webserver: WebserverHarness) -> None:
    demo = webserver.manager.users.demo
    await webserver.login(demo.email, demo.password)
    resp = await webserver.client.post(
        "/func/admin/gql", data=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await resp.json())["type"] == PROBS + "invalid-api-params"


async def test_func_without_login_is_401(webserver: WebserverHarness) -> None:
    resp = await webserver.client.post(
        "/func/admin/gql", json={"query": "{ keypair { is_admin } }"}
    )
    assert resp.status == 401
    body = await resp.json()
    assert body["type"] == PROBS + "auth-failed"
    assert "backend.ai login" in body["msg"]


async def test_wrong_password_is_401(webserver: WebserverHarness) -> None:
    resp = await webserver.login("demo@example.com", "not-the-password")
    assert resp.status == 401
    assert "incorrect" in (await resp.json())["msg"]


async def test_malformed_login_requests(webserver: WebserverHarness) -> None:
    resp = await webserver.client.post(
        "/server/login", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert "JSON object" in (await resp.json())["msg"]
    resp = await webserver.client.post("/server/login", json={"username": "a@b.c"})
    assert resp.status == 400
    assert "password" in (await resp.json())["msg"]


async def test_lockout_after_repeated_failures(webserver: WebserverHarness) -> None:
    demo = webserver.manager.users.demo
    for _ in range(3):  # the harness locks after 3 failures
        assert (await webserver.login(demo.email, "wrong")).status == 401
    locked = await webserver.login(demo.email, demo.password)
    assert locked.status == 429
    body = await locked.json()
    assert body["type"] == PROBS + "login-locked"
    assert "try again in" in body["msg"]
    # Another account is not affected.
    admin = webserver.manager.users.superadmin
    assert (await webserver.login(admin.email, admin.password)).status == 200


async def test_logout_ends_the_session(webserver: WebserverHarness) -> None:
    demo = webserver.manager.users.demo
    await webserver.login(demo.email, demo.password)
    check = await webserver.client.post("/server/login-check")
    assert (await check.json())["authenticated"] is True
    resp = await webserver.client.post("/server/logout")
    assert resp.status == 201
    after = await webserver.client.post(
        "/func/admin/gql", json={"query": "{ keypair { is_admin } }"}
    )
    assert after.status == 401


async def test_a_burst_of_wrong_logins_cannot_carry_the_right_one_in(
    webserver: WebserverHarness,
) -> None:
    demo = webserver.manager.users.demo

    async def right_one_late() -> aiohttp.ClientResponse:
        await asyncio.sleep(0.1)  # the wrong ones are with the manager now
        return await webserver.login(demo.email, demo.password)

    *wrong, right = await asyncio.gather(
        *(webserver.login(demo.email, f"wrong-{i}") for i in range(39)), right_one_late()
    )
    # The harness allows 3: no more reached the manager, however concurrent the burst.
    assert sorted(r.status for r in wrong) == [401] * 3 + [429] * 36
    assert right.status == 429
    body = await right.json()
    assert body["type"] == PROBS + "login-locked"
    assert "try again in 60 s" in body["msg"]
    assert right.headers["Retry-After"] == "60"
    after = await webserver.login(demo.email, demo.password)
    assert after.status == 429
    assert "3 failed" in (await after.json())["msg"]


async def test_login_check_does_not_show_the_cookie(webserver: WebserverHarness) -> None:
    demo = webserver.manager.users.demo
    login = await webserver.login(demo.email, demo.password)
    token = login.cookies["AIOHTTP_SESSION"].value
    check = await webserver.client.post("/server/login-check")
    text = await check.text()
    assert token not in text
    body = json.loads(text)
    assert body["authenticated"] is True
    assert body["data"]["access_key"] == demo.access_key
    assert body["session_id"] and body["session_id"] != token
    again = await webserver.client.post("/server/login-check")
    assert (await again.json())["session_id"] == body["session_id"]  # names the same login


def _set_cookie(resp: aiohttp.ClientResponse) -> list[str]:
    # The login's own cookie (others expire planted ones under the API's paths).
    line = next(
        c
        for c in resp.headers.getall("Set-Cookie")
        if c.startswith("AIOHTTP_SESSION=") and "Max-Age=0" not in c
    )
    return [part.strip().lower() for part in line.split(";")]


async def test_the_cookie_is_httponly_samesite_and_not_secure_over_http(
    webserver: WebserverHarness,
) -> None:
    demo = webserver.manager.users.demo
    resp = await webserver.login(demo.email, demo.password)
    flags = _set_cookie(resp)
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "secure" not in flags
    # A client cannot make it Secure by claiming TLS: no proxy is trusted here.
    forged = await webserver.client.post(
        "/server/login",
        json={"username": demo.email, "password": demo.password},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "secure" not in _set_cookie(forged)


async def test_the_cookie_is_secure_behind_a_tls_proxy(manager: ManagerHarness) -> None:
    demo = manager.users.demo
    async with running_webserver(manager, trusted_proxies=["127.0.0.1/32"]) as webserver:
        resp = await webserver.client.post(
            "/server/login",
            json={"username": demo.email, "password": demo.password},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert resp.status == 200
        assert "secure" in _set_cookie(resp)


def _tls_context(tmp_path: Path) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_the_cookie_is_secure_over_tls(manager: ManagerHarness, tmp_path: Path) -> None:
    demo = manager.users.demo
    settings = WebserverSettings(manager_url=f"http://{manager.host}")
    server = TestServer(create_webserver_app(settings))
    await server.start_server(ssl=_tls_context(tmp_path))
    client: TestClient[Any, Any] = TestClient(server, connector=aiohttp.TCPConnector(ssl=False))
    try:
        resp = await client.post(
            "/server/login", json={"username": demo.email, "password": demo.password}
        )
        assert resp.status == 200
        assert "secure" in _set_cookie(resp)
    finally:
        await client.close()


async def test_a_right_password_in_another_domain_reveals_nothing(
    manager: ManagerHarness,
) -> None:
    demo = manager.users.demo
    async with running_webserver(manager, domain="other") as webserver:
        right = await webserver.login(demo.email, demo.password)
        wrong = await webserver.login(demo.email, "wrong")
        unknown = await webserver.login("nobody@example.com", "wrong")
        assert right.status == wrong.status == unknown.status == 401
        assert await right.json() == await wrong.json() == await unknown.json()


async def test_the_manager_limits_the_browser_address_not_the_webserver(
    tmp_path: Path,
) -> None:
    async with (
        running_manager(tmp_path, login_max_failures_per_address=2) as manager,
        running_webserver(manager, trusted_proxies=["127.0.0.1"]) as webserver,
    ):
        guesser = {"X-Forwarded-For": "198.51.100.7"}
        for i in range(2):
            resp = await webserver.client.post(
                "/server/login",
                json={"username": f"guess{i}@example.com", "password": "x"},
                headers=guesser,
            )
            assert resp.status == 401
        demo = manager.users.demo
        refused = await webserver.client.post(
            "/server/login",
            json={"username": demo.email, "password": demo.password},
            headers=guesser,
        )
        # The manager's lock on that address comes through, with its wait.
        assert refused.status == 429
        body = await refused.json()
        assert body["type"] == PROBS + "login-locked"
        assert "198.51.100.7" in body["msg"]
        assert int(refused.headers["Retry-After"]) > 0
        # Someone else behind the same webserver is not affected.
        other = await webserver.client.post(
            "/server/login",
            json={"username": demo.email, "password": demo.password},
            headers={"X-Forwarded-For": "198.51.100.8"},
        )
        assert other.status == 200
