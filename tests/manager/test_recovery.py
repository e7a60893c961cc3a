"""Crash recovery: what a killed manager left half done is carried on at the next start, and an
agent that does not answer yet (restarting with the manager) is tried again before anything
fails for good."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from backendai.common.statuses import SessionStatus
from backendai.manager.app import create_app
from backendai.manager.context import ManagerContext
from backendai.manager.lifecycle import load_for_update, transition
from backendai.manager.settings import ManagerSettings
from tests.fixtures.platform import TEST_AGENT_TOKEN, ManagerHarness, running_manager
from tests.manager.conftest import FAST, create, eventually, history, wait_status
from tests.manager.fake_agent import FakeAgent


@asynccontextmanager
async def restarted(
    first: ManagerHarness, tmp_path: Path, **settings: Any
) -> AsyncIterator[ManagerHarness]:
    """A new manager process on the database ``first`` used (``first`` must be closed)."""
    values = {"data_dir": tmp_path, "db_url": first.db_url, "agent_token": TEST_AGENT_TOKEN}
    app = create_app(ManagerSettings(**(values | FAST | settings)))
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield ManagerHarness(client, first.users, first.db_url)
    finally:
        await client.close()


async def _running_session(m: ManagerHarness, agent: FakeAgent, name: str) -> uuid.UUID:
    assert await agent.send_heartbeat(m) == 200
    status, body = await create(m, name)
    assert status == 201 and body["status"] == "RUNNING", body
    return uuid.UUID(body["sessionId"])


async def _force(ctx: ManagerContext, session_id: uuid.UUID, to: SessionStatus) -> None:
    """Leave the session in ``to`` as a manager killed in the middle of a change would."""
    async with ctx.db() as db, db.begin():
        s = await load_for_update(db, session_id)
        assert s is not None
        await transition(db, s, to, reason="user-requested")


async def test_a_session_left_terminating_ends_at_the_next_start(
    tmp_path: Path, agent: FakeAgent
) -> None:
    async with running_manager(tmp_path, **FAST) as first:
        sid = await _running_session(first, agent, "left-terminating")
        await _force(first.ctx, sid, SessionStatus.TERMINATING)  # killed right after `rm`
    assert agent.destroy_calls == []
    async with restarted(first, tmp_path) as second:
        s = await wait_status(second, sid, SessionStatus.TERMINATED)
        assert agent.destroy_calls == [sid]
        assert s.status_info == "user-requested"
        assert (await history(second, sid))[-2:] == [
            ("TERMINATING", "user-requested"),
            ("TERMINATED", "user-requested"),
        ]


async def test_a_session_left_restarting_runs_again(tmp_path: Path, agent: FakeAgent) -> None:
    async with running_manager(tmp_path, **FAST) as first:
        sid = await _running_session(first, agent, "left-restarting")
        await _force(first.ctx, sid, SessionStatus.RESTARTING)
    async with restarted(first, tmp_path) as second:
        await wait_status(second, sid, SessionStatus.RUNNING)
        assert agent.restart_calls == [sid]


async def test_an_agent_not_listening_yet_is_tried_again(tmp_path: Path, agent: FakeAgent) -> None:
    """After a kill during a create, the restarted scheduler reached the agent before it
    listened and failed the session for good."""
    async with running_manager(tmp_path, **FAST) as m:
        assert await agent.send_heartbeat(m) == 200
        await agent.go_down()
        status, body = await create(m, "agent-restarting", enqueueOnly=True)
        assert status == 201, body
        sid = uuid.UUID(body["sessionId"])
        await wait_status(m, sid, SessionStatus.PREPARING)
        await asyncio.sleep(0.5)  # a few tries fail meanwhile
        await agent.come_back()
        await wait_status(m, sid, SessionStatus.RUNNING, within=10)
        assert len(agent.create_calls) == 1  # the tries that reached nobody made nothing


async def test_an_agent_that_never_answers_fails_the_session_with_the_reason(
    tmp_path: Path, agent: FakeAgent
) -> None:
    async with running_manager(tmp_path, **FAST, agent_retry_window=0.5) as m:
        assert await agent.send_heartbeat(m) == 200
        await agent.go_down()
        status, body = await create(m, "agent-gone")
        assert status == 201, body
        s = await wait_status(m, uuid.UUID(body["sessionId"]), SessionStatus.ERROR, within=10)
        assert s.status_info == "failed-to-start"
        assert "could not be reached" in s.status_data["error"]["message"]


async def test_a_destroy_waits_for_a_restarting_agent(tmp_path: Path, agent: FakeAgent) -> None:
    async with running_manager(tmp_path, **FAST) as m:
        sid = await _running_session(m, agent, "destroy-retried")
        await agent.go_down()
        resp = await m.signed("DELETE", "/session/destroy-retried")
        assert resp.status == 200
        await asyncio.sleep(0.5)
        await agent.come_back()
        s = await wait_status(m, sid, SessionStatus.TERMINATED, within=10)
        await eventually(lambda: sid in agent.destroy_calls)
        assert not (s.status_data or {}).get("error")  # destroyed, not given up on


async def test_a_request_to_a_restarting_agent_is_503_with_retry_after(
    tmp_path: Path, agent: FakeAgent
) -> None:
    async with running_manager(tmp_path, **FAST) as m:
        await _running_session(m, agent, "agent-away")
        await agent.go_down()
        resp = await m.signed("GET", "/session/agent-away/files", body={"path": "."})
        body = await resp.json(content_type=None)
        assert resp.status == 503, body
        assert body["type"].endswith("/agent-unreachable")
        assert resp.headers["Retry-After"] == "5"
        await agent.come_back()
        resp = await m.signed("GET", "/session/agent-away/files", body={"path": "."})
        assert resp.status == 200


async def test_a_stream_opened_while_the_agent_restarts_waits_for_it(
    tmp_path: Path, agent: FakeAgent
) -> None:
    """``run -t survivor`` right after a restart met an agent not listening yet: a 503."""
    async with running_manager(tmp_path, **FAST) as m:
        await _running_session(m, agent, "stream-retried")
        await agent.go_down()
        path = "/stream/session/stream-retried/execute"
        connecting = asyncio.create_task(m.client.ws_connect(path, headers=m.stream_headers(path)))
        await asyncio.sleep(0.5)  # a few tries fail meanwhile
        assert not connecting.done()
        await agent.come_back()
        ws = await asyncio.wait_for(connecting, 10)
        await ws.send_json({"code": "print(1)", "mode": "query", "options": {}})
        assert (await ws.receive_json())["status"] == "continued"
        assert (await ws.receive_json())["status"] == "finished"
        await ws.close()
