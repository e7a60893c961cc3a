"""Apps run on the web UI's host name (other ports), and browsers send a host's cookies to all
its ports and let any of them set one: an app could read the login cookie, or plant its own
login so that the user acts as the app's owner. The app proxy never forwards the login cookie
(tests/appproxy/test_access.py); the webserver refuses two login cookies at once, expires
planted ones at login, and marks every answer nosniff."""

from __future__ import annotations

import json

from tests.fixtures.platform import WebserverHarness

GQL = {"query": "query { keypair { access_key } }"}


async def test_a_planted_second_login_cookie_is_refused_not_guessed(
    webserver: WebserverHarness,
) -> None:
    demo = webserver.manager.users.demo
    resp = await webserver.login(demo.email, demo.password)
    assert resp.status == 200
    token = resp.cookies["AIOHTTP_SESSION"].value
    # What a browser sends once an app planted AIOHTTP_SESSION=...; Path=/func beside ours.
    both = {"Cookie": f"AIOHTTP_SESSION=planted-by-an-app; AIOHTTP_SESSION={token}"}
    webserver.client.session.cookie_jar.clear()
    answer = await webserver.client.post("/func/admin/gql", json=GQL, headers=both)
    assert answer.status == 401
    problem = await answer.json()
    assert "two login cookies" in problem["msg"]
    alone = await webserver.client.post(
        "/func/admin/gql", json=GQL, headers={"Cookie": f"AIOHTTP_SESSION={token}"}
    )
    assert alone.status == 200
    assert (await alone.json())["data"]["keypair"]["access_key"] == demo.access_key


async def test_a_login_expires_cookies_planted_under_the_apis_paths(
    webserver: WebserverHarness,
) -> None:
    demo = webserver.manager.users.demo
    resp = await webserver.client.post(
        "/server/login",
        data=json.dumps({"username": demo.email, "password": demo.password}),
        headers={
            "Content-Type": "application/json",
            "Cookie": "AIOHTTP_SESSION=x; AIOHTTP_SESSION=y",
        },
    )
    assert resp.status == 200  # a login is how the user gets out of it
    set_cookies = resp.headers.getall("Set-Cookie")
    for path in ("/func", "/server", "/storage"):
        assert any(f"Path={path}" in c and "Max-Age=0" in c for c in set_cookies), set_cookies
    assert any("Path=/;" in c or c.endswith("Path=/") for c in set_cookies)


async def test_every_answer_is_nosniff(webserver: WebserverHarness) -> None:
    demo = webserver.manager.users.demo
    await webserver.login(demo.email, demo.password)
    for method, path in (("POST", "/func/admin/gql"), ("GET", "/func/"), ("GET", "/nosuch")):
        async with webserver.client.request(method, path, json=GQL) as answer:
            assert answer.headers.get("X-Content-Type-Options") == "nosniff", path
