"""Session mode: email/password login with a cookie, forwarding, logout and lock-out."""

from __future__ import annotations

from tests.fixtures.platform import WebserverHarness

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
