"""Browser routes through the real app proxy of a live ``up``: the owner's token link works
(302 + cookie, then the app), another user's token or none does not, a public route needs no
token and opens only its own app, and a route stops working when its session ends."""

from __future__ import annotations

import asyncio
import http.client
import time
import uuid
from urllib.parse import urlsplit

import pytest

from backendai.client.config import APIConfig
from backendai.client.exceptions import BackendAPIError
from backendai.client.session import AsyncSession
from backendai.common.app_protocol import AppOpened
from tests.compat.conftest import Runner, api_env
from tests.compat.test_admin_images import stranger  # noqa: F401  (the fixture)
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.compat, pytest.mark.docker]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def get(url: str, cookie: str = "") -> tuple[int, dict[str, str], bytes]:
    """One request, redirects not followed."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn.request("GET", target, headers={"Cookie": cookie} if cookie else {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def log_in(opened: AppOpened) -> str:
    """Follow the token link as a browser does; the cookie it was given."""
    status, headers, _ = get(opened.url)
    assert status == 302, (status, headers)
    assert "app_token" not in headers["location"]
    cookie = headers["set-cookie"].split(";", 1)[0]
    assert "HttpOnly" in headers["set-cookie"]
    return cookie


async def _open(env: dict[str, str], session: str, app: str, public: bool = False) -> AppOpened:
    async with AsyncSession(config=APIConfig.from_env(env)) as api:
        return await api.ComputeSession(session).open_app(app, open_to_public=public)


@pytest.mark.parametrize("cli", ["ours"], indirect=True)  # a wire-level check: one CLI is enough
def test_browser_routes_end_to_end(
    cli: Runner,
    live_server: LiveServer,
    stranger: dict[str, str],  # noqa: F811
) -> None:
    ours = cli
    owner, peer = api_env(live_server), stranger
    mine, theirs = unique("route"), unique("route")
    assert ours("start", "-t", mine, "python", env=owner).returncode == 0
    assert ours("start", "-t", theirs, "python", env=peer).returncode == 0
    try:
        private = asyncio.run(_open(owner, mine, "ttyd"))
        assert not private.public and "app_token=" in private.url
        base = private.url.split("?", 1)[0]
        status, _, _ = get(base)
        assert status == 403  # no token, no app
        cookie = log_in(private)
        status, _, body = get(base, cookie)
        assert status == 200 and b"ttyd" in body.lower()

        # The other user may not open the owner's app, and their own token opens only theirs.
        with pytest.raises(BackendAPIError) as refused:
            asyncio.run(_open(peer, mine, "ttyd"))
        assert refused.value.status == 404
        their_route = asyncio.run(_open(peer, theirs, "ttyd"))
        their_cookie = log_in(their_route)
        foreign = their_cookie.split("=", 1)[1]
        assert get(f"{base}?app_token={foreign}")[0] == 403
        renamed = f"backendai_app_{private.port}={foreign}"
        assert get(base, renamed)[0] == 403

        # A public route needs no token, and only for that app.
        opened = asyncio.run(_open(peer, theirs, "ttyd", public=True))
        assert opened.public and opened.port == their_route.port
        assert get(opened.url)[0] == 200
        assert get(base)[0] == 403  # the owner's private route stays closed

        # The owner's route ends with the session.
        assert ours("rm", mine, env=owner).returncode == 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if get(base, cookie)[0] != 200:
                    break
            except OSError:
                break  # the port no longer listens
            time.sleep(0.2)
        else:
            raise AssertionError("the route still answered 30 s after its session ended")
    finally:
        ours("rm", mine, env=owner)
        ours("rm", theirs, env=peer)
