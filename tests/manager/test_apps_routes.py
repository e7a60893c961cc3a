"""App routes for browsers: open, reopen and close through fake app proxies, their end with the
session, the proxies' internal routes, and the app events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from backendai.common.app_protocol import APPPROXY_TOKEN_HEADER, tunnel_ticket_allows
from backendai.common.statuses import SessionStatus
from backendai.manager.db.models import SessionAppRoute
from tests.fixtures.platform import TEST_AGENT_TOKEN, ManagerHarness, running_manager
from tests.manager.conftest import FAST, create, eventually, session_row, wait_status
from tests.manager.test_apps_fakes import (
    BROKEN_LOG,
    PROBS,
    TEST_APPPROXY_TOKEN,
    AppAgent,
    FakeProxy,
    call_as,
    other_user,
)
from tests.manager.test_events_api import _listen, _read_events


@dataclass
class Routed:
    manager: ManagerHarness
    agent: AppAgent
    p1: FakeProxy
    p2: FakeProxy

    async def running(self, name: str) -> str:
        status, body = await create(self.manager, name)
        assert status == 201, body
        await wait_status(self.manager, body["sessionId"], SessionStatus.RUNNING)
        return str(body["sessionId"])

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        resp = await self.manager.signed(method, path, body=body)
        try:
            return resp.status, await resp.json(content_type=None)
        except ValueError:
            return resp.status, await resp.text()

    async def rows(self, session_id: str | None = None) -> list[SessionAppRoute]:
        async with self.manager.ctx.db() as db:
            q = sa.select(SessionAppRoute)
            if session_id is not None:
                q = q.where(SessionAppRoute.session_id == uuid.UUID(session_id))
            return list(await db.scalars(q))


@pytest.fixture
async def routed(tmp_path: Path) -> AsyncIterator[Routed]:
    p1, p2 = FakeProxy("p1", [20001, 20002]), FakeProxy("p2", [20011, 20012])
    for p in (p1, p2):
        await p.server.start_server()
    settings = FAST | {"appproxies": [p1.endpoint, p2.endpoint],
                       "appproxy_token": TEST_APPPROXY_TOKEN}  # fmt: skip
    agent = AppAgent()
    await agent.start()
    try:
        async with running_manager(tmp_path, None, **settings) as manager:
            assert await agent.send_heartbeat(manager) == 200
            yield Routed(manager, agent, p1, p2)
    finally:
        await agent.close()
        for p in (p1, p2):
            await p.server.close()


async def test_open_a_private_route(routed: Routed) -> None:
    sid = await routed.running("rt-01")
    routed.p1.busy = 1
    status, opened = await routed.call("POST", "/session/rt-01/apps/jupyter", {})
    assert status == 200, opened
    assert opened["proxy"] == "p2"  # the one with the fewest routes
    [spec] = routed.p2.puts
    assert opened["url"] == f"http://p2.proxy.test:{opened['port']}/?app_token={spec.token}"
    assert opened["public"] is False and len(spec.token) >= 32
    assert str(spec.session_id) == sid and spec.app == "jupyter" and spec.protocol == "http"
    assert spec.agent_addr == routed.agent.addr
    assert tunnel_ticket_allows(TEST_AGENT_TOKEN, spec.ticket, spec.kernel_id, "jupyter")
    assert not tunnel_ticket_allows(TEST_AGENT_TOKEN, spec.ticket, spec.kernel_id, "ttyd")
    assert [name for name, _ in routed.agent.start_calls] == ["jupyter"]  # started first
    [row] = await routed.rows(sid)
    assert (row.proxy_id, row.port, row.token) == ("p2", opened["port"], spec.token)
    status, listed = await routed.call("GET", "/session/rt-01/apps")
    assert status == 200 and listed == [opened]


async def test_reopen_returns_the_same_route(routed: Routed) -> None:
    await routed.running("rt-02")
    _, first = await routed.call("POST", "/session/rt-02/apps/ttyd", {})
    _, again = await routed.call("POST", "/session/rt-02/apps/ttyd", {})
    assert again == first  # same route, port and token
    status, public = await routed.call("POST", "/session/rt-02/apps/ttyd", {"open_to_public": True})
    assert status == 200 and public["public"] is True
    assert public["route_id"] == first["route_id"] and public["port"] == first["port"]
    assert "app_token" not in public["url"]
    last = routed.p1.puts[-1]
    assert last.public is True and last.token == ""
    _, private = await routed.call("POST", "/session/rt-02/apps/ttyd", {"open_to_public": False})
    assert private == first  # the token kept while public comes back
    assert len(await routed.rows()) == 1


async def test_open_a_public_route(routed: Routed) -> None:
    await routed.running("rt-03")
    status, opened = await routed.call("POST", "/session/rt-03/apps/ttyd", {"open_to_public": True})
    assert status == 200 and opened["public"] is True
    assert opened["url"] == f"http://p1.proxy.test:{opened['port']}/"
    assert routed.p1.puts[0].token == ""


async def test_preferred_port_on_whichever_proxy_has_it(routed: Routed) -> None:
    await routed.running("rt-04")
    status, opened = await routed.call(
        "POST", "/session/rt-04/apps/ttyd", {"preferred_port": 20012}
    )
    assert status == 200, opened
    assert (opened["proxy"], opened["port"]) == ("p2", 20012)
    # p1 (tried first: fewer routes or equal) gave another port: its route was taken back.
    assert [s.route_id for s in routed.p1.puts] == routed.p1.deletes
    assert not routed.p1.routes


async def test_preferred_port_that_no_proxy_has(routed: Routed) -> None:
    await routed.running("rt-05")
    status, opened = await routed.call(
        "POST", "/session/rt-05/apps/ttyd", {"preferred_port": 31337}
    )
    assert status == 200, opened
    assert opened["proxy"] == "p1" and opened["port"] == 20001  # another port is accepted
    assert routed.p2.deletes == [s.route_id for s in routed.p2.puts]  # the spare one went
    assert list(routed.p1.routes) == [uuid.UUID(opened["route_id"])]


async def test_full_proxies_and_refusals(routed: Routed) -> None:
    await routed.running("rt-06")
    status, problem = await routed.call("POST", "/session/rt-06/apps/sshd", {})
    assert status == 400 and "backend.ai app" in problem["msg"]
    status, problem = await routed.call("POST", "/session/rt-06/apps/nope", {})
    assert status == 404 and problem["type"] == PROBS + "app-not-found"
    status, problem = await routed.call("POST", "/session/rt-06/apps/broken", {})
    assert status == 502 and problem["type"] == PROBS + "app-start-failed"
    assert problem["msg"].endswith(BROKEN_LOG)
    assert not routed.p1.puts and not routed.p2.puts and not await routed.rows()
    for p in (routed.p1, routed.p2):
        p.pool = []
    status, problem = await routed.call("POST", "/session/rt-06/apps/ttyd", {})
    assert status == 503 and problem["type"] == PROBS + "appproxy-unavailable"
    for p in (routed.p1, routed.p2):
        await p.server.close()
    status, problem = await routed.call("POST", "/session/rt-06/apps/ttyd", {})
    assert status == 503 and problem["type"] == PROBS + "appproxy-unavailable"
    assert not await routed.rows()


async def test_no_proxy_configured(tmp_path: Path) -> None:
    agent = AppAgent()
    await agent.start()
    try:
        async with running_manager(tmp_path, None, **FAST) as manager:
            assert await agent.send_heartbeat(manager) == 200
            _, body = await create(manager, "rt-07")
            await wait_status(manager, body["sessionId"], SessionStatus.RUNNING)
            resp = await manager.signed("POST", "/session/rt-07/apps/ttyd", body={})
            problem = await resp.json()
            # Permanent, so not a 503 (that is for configured proxies that are down or full).
            assert resp.status == 404 and problem["type"] == PROBS + "not-available"
            assert "backend.ai app" in problem["msg"]
    finally:
        await agent.close()


async def test_close_a_route(routed: Routed) -> None:
    sid = await routed.running("rt-08")
    _, opened = await routed.call("POST", "/session/rt-08/apps/ttyd", {})
    status, _ = await routed.call("DELETE", "/session/rt-08/apps/ttyd")
    assert status == 204
    assert routed.p1.deletes == [uuid.UUID(opened["route_id"])] and not routed.p1.routes
    assert routed.agent.stop_calls == ["ttyd"]
    assert not await routed.rows(sid)
    assert (await routed.call("GET", "/session/rt-08/apps")) == (200, [])
    status, problem = await routed.call("DELETE", "/session/rt-08/apps/nope")
    assert status == 404 and problem["type"] == PROBS + "app-not-found"


async def test_routes_end_with_the_session(routed: Routed) -> None:
    sid = await routed.running("rt-09")
    _, a = await routed.call("POST", "/session/rt-09/apps/ttyd", {})
    _, b = await routed.call("POST", "/session/rt-09/apps/jupyter", {})
    ids = {uuid.UUID(a["route_id"]), uuid.UUID(b["route_id"])}
    assert (await routed.manager.signed("DELETE", "/session/rt-09")).status == 200
    await wait_status(routed.manager, sid, SessionStatus.TERMINATED)
    await eventually(lambda: set(routed.p1.deletes) | set(routed.p2.deletes) == ids)
    assert not routed.p1.routes and not routed.p2.routes
    assert not await routed.rows(sid)


async def test_sweep_closes_routes_a_manager_missed(routed: Routed) -> None:
    sid = await routed.running("rt-10")
    _, opened = await routed.call("POST", "/session/rt-10/apps/ttyd", {})
    async with routed.manager.ctx.db() as db, db.begin():  # ended while nobody listened
        s = await db.get_one(type(await session_row(routed.manager, sid)), uuid.UUID(sid))
        s.status = SessionStatus.TERMINATED
    assert await routed.manager.ctx.app_janitor.sweep() == 1
    assert routed.p1.deletes == [uuid.UUID(opened["route_id"])]
    assert await routed.manager.ctx.app_janitor.sweep() == 0


async def test_other_users_find_no_session(routed: Routed) -> None:
    await routed.running("rt-11")
    await routed.call("POST", "/session/rt-11/apps/ttyd", {})
    mallory = await other_user(routed.manager)
    owner = routed.manager.users.demo.access_key
    calls: list[tuple[str, str, Any]] = [
        ("POST", "/session/rt-11/apps/jupyter", {}),
        ("DELETE", "/session/rt-11/apps/ttyd", None),
        ("GET", "/session/rt-11/apps", None),
        ("GET", f"/session/rt-11/apps?owner_access_key={owner}", None),
        ("POST", f"/session/rt-11/apps/jupyter?owner_access_key={owner}", {}),
        ("GET", "/stream/session/rt-11/apps", None),
    ]
    for method, path, body in calls:
        status, problem = await call_as(routed.manager, mallory, method, path, body)
        assert status == 404, (method, path, problem)
        assert problem["type"] == PROBS + "session-not-found"
    assert len(await routed.rows()) == 1 and routed.agent.stop_calls == []
    assert [name for name, _ in routed.agent.start_calls] == ["ttyd"]


async def test_internal_routes_for_proxies(routed: Routed) -> None:
    sid = await routed.running("rt-12")
    _, opened = await routed.call("POST", "/session/rt-12/apps/ttyd", {})
    client = routed.manager.client
    for token in ("", "wrong-token-0123456789", TEST_AGENT_TOKEN):
        headers = {APPPROXY_TOKEN_HEADER: token} if token else {}
        resp = await client.get("/internal/appproxy/routes?proxy=p1", headers=headers)
        assert resp.status == 401
        resp = await client.post(
            "/internal/appproxy/activity", json={"proxy": "p1", "session_ids": [sid]},
            headers=headers,
        )  # fmt: skip
        assert resp.status == 401
    good = {APPPROXY_TOKEN_HEADER: TEST_APPPROXY_TOKEN}
    resp = await client.get("/internal/appproxy/routes?proxy=p1", headers=good)
    [spec] = await resp.json()
    assert spec["route_id"] == opened["route_id"] and spec["port"] == opened["port"]
    assert spec["agent_addr"] == routed.agent.addr and spec["token"]
    assert tunnel_ticket_allows(
        TEST_AGENT_TOKEN, spec["ticket"], uuid.UUID(spec["kernel_id"]), "ttyd"
    )
    resp = await client.get("/internal/appproxy/routes?proxy=p2", headers=good)
    assert await resp.json() == []
    resp = await client.get("/internal/appproxy/routes", headers=good)
    assert resp.status == 400


async def test_activity_touches_only_that_proxys_sessions(routed: Routed) -> None:
    on_p1 = await routed.running("rt-13")
    on_p2 = await routed.running("rt-14")
    _, a = await routed.call("POST", "/session/rt-13/apps/ttyd", {"preferred_port": 20001})
    _, b = await routed.call("POST", "/session/rt-14/apps/ttyd", {"preferred_port": 20011})
    assert (a["proxy"], b["proxy"]) == ("p1", "p2")
    unrouted = await routed.running("rt-15")
    before = {sid: (await session_row(routed.manager, sid)).last_activity
              for sid in (on_p1, on_p2, unrouted)}  # fmt: skip
    good = {APPPROXY_TOKEN_HEADER: TEST_APPPROXY_TOKEN}
    resp = await routed.manager.client.post(
        "/internal/appproxy/activity",
        json={"proxy": "p1", "session_ids": [on_p1, on_p2, unrouted, str(uuid.uuid4())]},
        headers=good,
    )
    assert resp.status == 204
    after = {sid: (await session_row(routed.manager, sid)).last_activity for sid in before}
    assert after[on_p1] is not None and after[on_p1] != before[on_p1]
    assert after[on_p2] == before[on_p2] and after[unrouted] == before[unrouted]


async def test_app_events(routed: Routed) -> None:
    await routed.running("ev-app")
    everything = await _listen(routed.manager, "sessionName=ev-app&scope=*")
    sessions_only = await _listen(routed.manager, "sessionName=ev-app&scope=session")
    readers = [asyncio.create_task(_read_events(r)) for r in (everything, sessions_only)]
    await routed.call("POST", "/session/ev-app/apps/ttyd", {})
    await routed.call("POST", "/session/ev-app/apps/ttyd", {})  # running: no second event
    await routed.call("DELETE", "/session/ev-app/apps/ttyd")
    await routed.call("DELETE", "/session/ev-app/apps/ttyd")  # not running: no event
    assert (await routed.manager.signed("DELETE", "/session/ev-app")).status == 200
    events, session_events = [await asyncio.wait_for(r, 5) for r in readers]
    apps = [(name, data["reason"]) for name, data in events if name.startswith("app_")]
    assert apps == [("app_started", "ttyd"), ("app_stopped", "ttyd")]
    started = next(data for name, data in events if name == "app_started")
    assert started["sessionName"] == "ev-app"
    assert started["ownerAccessKey"] == routed.manager.users.demo.access_key
    assert events[-1][0] == "server_close"
    names = [name for name, _ in session_events if name != "#"]
    assert names == ["session_terminated", "server_close"]  # scopes still filter
