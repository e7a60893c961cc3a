"""A session's apps: the list from the agent (or the stored ports), and the TCP tunnel of
``backend.ai app`` relayed to the agent's app tunnel (API_CONTRACT §3.1, §3.2)."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import AsyncIterator

import aiohttp
import pytest
import yarl

from backendai.common.statuses import SessionStatus
from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import create, json_of, session_row, wait_status
from tests.manager.fake_agent import FakeAgent
from tests.manager.test_apps_fakes import (
    BROKEN_LOG,
    PROBS,
    AppAgent,
    call_as,
    other_user,
    stream_headers_as,
)

UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}  # fmt: skip


@pytest.fixture
async def apps_agent(platform: ManagerHarness) -> AsyncIterator[AppAgent]:
    fake = AppAgent()
    await fake.start()
    assert await fake.send_heartbeat(platform) == 200
    try:
        yield fake
    finally:
        await fake.close()


def tunnel_path(ref: str, app: str, kind: str = "tcpproxy", **query: object) -> str:
    params = {"app": app} | {k: json.dumps(v) for k, v in query.items()}
    # As aiohttp will send it (yarl normalizes the escapes), since that is what gets signed.
    return str(yarl.URL(f"/stream/session/{ref}/{kind}?{urllib.parse.urlencode(params)}"))


async def _running(platform: ManagerHarness, name: str) -> str:
    status, body = await create(platform, name)
    assert status == 201, body
    await wait_status(platform, body["sessionId"], SessionStatus.RUNNING)
    return str(body["sessionId"])


async def test_apps_are_what_the_agent_says(platform: ManagerHarness, apps_agent: AppAgent) -> None:
    await _running(platform, "apps-live")
    resp = await platform.signed("GET", "/stream/session/apps-live/apps")
    apps = {a["name"]: a for a in await resp.json()}
    assert list(apps) == ["ttyd", "sshd", "jupyter", "broken"]
    assert apps["sshd"] == {"name": "sshd", "protocol": "tcp", "ports": [2200],
                            "allowed_arguments": {"--port": "int"},
                            "allowed_envs": ["SSH_GREETING"], "running": False}  # fmt: skip
    assert "url_template" not in apps["ttyd"]  # the client formats it when present
    async with platform.client.ws_connect(
        tunnel_path("apps-live", "ttyd"),
        headers=platform.stream_headers(tunnel_path("apps-live", "ttyd")),
    ) as ws:
        await ws.receive_bytes()
    resp = await platform.signed("GET", "/stream/session/apps-live/apps")
    assert {a["name"]: a["running"] for a in await resp.json()}["ttyd"] is True


async def test_apps_fall_back_to_stored_ports(
    platform: ManagerHarness, apps_agent: AppAgent
) -> None:
    await _running(platform, "apps-stored")
    apps_agent.apps_down = True
    resp = await platform.signed("GET", "/stream/session/apps-stored/apps")
    assert resp.status == 200
    assert await resp.json() == [  # the shape the client 20.9.9 reads, as stored at start
        {"name": "ttyd", "protocol": "http", "ports": [7681]},
        {"name": "sshd", "protocol": "tcp", "ports": [2200]},
    ]


async def test_tcpproxy_relays_bytes_both_ways(
    platform: ManagerHarness, apps_agent: AppAgent
) -> None:
    sid = await _running(platform, "tun-1")
    before = (await session_row(platform, sid)).last_activity
    path = tunnel_path("tun-1", "sshd", arguments={"--port": "22"}, envs={"SSH_GREETING": "hi"})
    async with platform.client.ws_connect(path, headers=platform.stream_headers(path)) as ws:
        greeting = await ws.receive_bytes()  # the app speaks first: downstream on its own
        assert greeting.startswith(b"hello from sshd")
        await ws.send_bytes(b"\x00\x01ping")
        assert await ws.receive_bytes() == b"echo:\x00\x01ping"
        await ws.send_bytes(b"bye")  # the app closes its end: the tunnel ends with 1000
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == 1000
    assert apps_agent.tunnel_frames == [b"\x00\x01ping", b"bye"]
    [(name, req)] = apps_agent.start_calls  # started before the tunnel, with what was asked
    assert (
        name == "sshd" and req.arguments == {"--port": "22"} and req.envs == {"SSH_GREETING": "hi"}
    )
    [query] = apps_agent.tunnel_queries
    assert json.loads(query["arguments"]) == {"--port": "22"}
    after = (await session_row(platform, sid)).last_activity
    assert after is not None and (before is None or after > before)


async def test_httpproxy_is_an_alias(platform: ManagerHarness, apps_agent: AppAgent) -> None:
    await _running(platform, "tun-2")
    path = tunnel_path("tun-2", "ttyd", kind="httpproxy")
    async with platform.client.ws_connect(path, headers=platform.stream_headers(path)) as ws:
        assert (await ws.receive_bytes()).startswith(b"hello from ttyd")
        await ws.send_bytes(b"GET / HTTP/1.0\r\n\r\n")
        assert await ws.receive_bytes() == b"echo:GET / HTTP/1.0\r\n\r\n"


async def test_tcpproxy_refusals_come_before_the_upgrade(
    platform: ManagerHarness, apps_agent: AppAgent
) -> None:
    await _running(platform, "tun-3")
    path = tunnel_path("tun-3", "nope")
    resp = await platform.client.get(path, headers=platform.stream_headers(path) | UPGRADE)
    problem = await json_of(resp)
    assert resp.status == 404 and problem["type"] == PROBS + "app-not-found"
    path = "/stream/session/tun-3/tcpproxy?app=sshd&arguments=%7Bnot-json"
    resp = await platform.client.get(path, headers=platform.stream_headers(path) | UPGRADE)
    problem = await json_of(resp)
    assert resp.status == 400 and "arguments is not valid JSON" in problem["msg"]
    path = tunnel_path("tun-3", "sshd", arguments=["--port"])  # JSON, but not an object
    resp = await platform.client.get(path, headers=platform.stream_headers(path) | UPGRADE)
    assert resp.status == 400
    path = tunnel_path("tun-3", "sshd", envs={f"E{i}": "x" for i in range(65)})
    resp = await platform.client.get(path, headers=platform.stream_headers(path) | UPGRADE)
    assert resp.status == 400 and "at most 64" in (await json_of(resp))["msg"]
    path = tunnel_path("tun-3", "sshd", arguments={"--evil": None})  # the agent refuses it
    resp = await platform.client.get(path, headers=platform.stream_headers(path) | UPGRADE)
    problem = await json_of(resp)
    assert resp.status == 400 and problem["msg"] == "The app does not allow --evil."
    assert not apps_agent.tunnel_queries  # nothing was tunnelled


async def test_tcpproxy_answers_a_failing_app_with_its_log(
    platform: ManagerHarness, apps_agent: AppAgent
) -> None:
    await _running(platform, "tun-4")
    path = tunnel_path("tun-4", "broken")
    resp = await asyncio.wait_for(
        platform.client.get(path, headers=platform.stream_headers(path) | UPGRADE), 10
    )
    problem = await json_of(resp)
    assert resp.status == 502 and problem["type"] == PROBS + "app-start-failed"
    assert problem["msg"].endswith(BROKEN_LOG)
    with pytest.raises(aiohttp.WSServerHandshakeError) as e:
        await platform.client.ws_connect(path, headers=platform.stream_headers(path))
    assert e.value.status == 502


async def test_tcpproxy_needs_a_running_session(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    await create(platform, "tun-5", enqueueOnly=True)
    path = tunnel_path("tun-5", "sshd")
    resp = await platform.client.get(path, headers=platform.stream_headers(path) | UPGRADE)
    problem = await json_of(resp)
    assert resp.status == 400 and problem["type"] == PROBS + "invalid-session-state"
    assert "PENDING" in problem["msg"]


async def test_other_users_find_no_session(platform: ManagerHarness, apps_agent: AppAgent) -> None:
    await _running(platform, "tun-6")
    mallory = await other_user(platform)
    for kind in ("tcpproxy", "httpproxy"):
        path = tunnel_path("tun-6", "sshd", kind=kind)
        resp = await platform.client.get(
            path, headers=stream_headers_as(platform, mallory, path) | UPGRADE
        )
        problem = await json_of(resp)
        assert resp.status == 404 and problem["type"] == PROBS + "session-not-found"
    status, problem = await call_as(platform, mallory, "GET", "/stream/session/tun-6/apps")
    assert status == 404 and problem["type"] == PROBS + "session-not-found"
    assert not apps_agent.start_calls


async def test_an_admin_may_tunnel_with_owner_access_key(
    platform: ManagerHarness, apps_agent: AppAgent
) -> None:
    await _running(platform, "tun-7")
    owner = platform.users.demo.access_key
    path = tunnel_path("tun-7", "ttyd") + f"&owner_access_key={owner}"
    async with platform.client.ws_connect(
        path, headers=platform.stream_headers(path, as_="superadmin")
    ) as ws:
        assert (await ws.receive_bytes()).startswith(b"hello from ttyd")
