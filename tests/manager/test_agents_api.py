"""``/internal/agents/...``: heartbeats (registration, images, reconciliation), kernel events,
and agents that go silent."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import sqlalchemy as sa

from backendai.common.agent_protocol import ContainerInfo, ContainerState
from backendai.common.statuses import AgentStatus, SessionStatus
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import Agent, Image, ImageAlias
from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import create, eventually, session_row, wait_status
from tests.manager.fake_agent import FakeAgent, GiB

INFO_Q = (
    "query($id: UUID!) { compute_session(id: $id) { name status status_info status_data "
    "containers { status status_info } } }"
)


async def test_heartbeat_needs_the_token(platform: ManagerHarness, agent: FakeAgent) -> None:
    assert await agent.send_heartbeat(platform, token="wrong-token-wrong-token") == 401
    resp = await platform.client.post("/internal/agents/heartbeat", json={})
    assert resp.status == 401
    async with platform.ctx.db() as db:
        assert await db.get(Agent, "agent-1") is None


async def test_heartbeat_registers_agent_and_images(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    async with platform.ctx.db() as db:
        agent = await db.get_one(Agent, "agent-1")
        images = {i.name: i for i in await db.scalars(sa.select(Image))}
        aliases = {
            a.alias: images_by_id
            for a in await db.scalars(sa.select(ImageAlias))
            for images_by_id in [next(i.name for i in images.values() if i.id == a.image_id)]
        }
    assert agent.status is AgentStatus.ALIVE and agent.addr == joined.addr
    assert agent.available_slots == {"cpu": "4", "mem": str(8 * GiB)}
    assert set(agent.images) == {"backendai/python:3.11-debian12", "backendai/python:latest"}
    assert set(images) == {"backendai/python:3.11-debian12", "backendai/python:latest"}
    assert images["backendai/python:latest"].resources == {
        "cpu": {"min": "1", "max": None}, "mem": {"min": str(256 * 1024**2), "max": None}
    }  # fmt: skip
    assert aliases == {
        "python": "backendai/python:3.11-debian12",
        "python:3.11-debian12": "backendai/python:3.11-debian12",
    }


async def test_orphan_container_is_destroyed(platform: ManagerHarness, joined: FakeAgent) -> None:
    stray = uuid.uuid4()
    joined.containers[stray] = ContainerInfo(
        kernel_id=stray, session_id=stray, container_id="c-stray", state=ContainerState.RUNNING
    )
    assert await joined.send_heartbeat(platform) == 200
    await eventually(lambda: stray in joined.destroy_calls)
    assert stray not in joined.containers


async def test_terminated_kernel_container_is_destroyed(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    _, body = await create(platform, "left-1")
    kid = uuid.UUID(body["sessionId"])
    container = joined.containers[kid]
    resp = await platform.signed("DELETE", "/session/left-1")
    assert resp.status == 200
    joined.containers[kid] = container  # the destroy "failed" to remove it
    assert await joined.send_heartbeat(platform) == 200
    await eventually(lambda: joined.destroy_calls.count(kid) == 2)


async def test_vanished_container_ends_the_session(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    _, body = await create(platform, "gone-1")
    joined.containers.clear()
    assert await joined.send_heartbeat(platform) == 200
    s = await wait_status(platform, body["sessionId"], SessionStatus.ERROR)
    assert s.status_info == "vanished"
    assert "The container vanished" in s.status_data["error"]["message"]
    # Its slots are free again.
    async with platform.ctx.db() as db:
        assert (await db.get_one(Agent, "agent-1", populate_existing=True)).occupied_slots == {}


async def test_oom_event_is_error_visible_in_gql(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    _, body = await create(platform, "oom-1", config={"resources": {"mem": "512m"}})
    sid = uuid.UUID(body["sessionId"])
    assert await joined.send_exit(platform, sid, oom=True) == 200
    s = await session_row(platform, sid)
    assert s.status is SessionStatus.ERROR and s.status_info == "oom-killed"
    info = (await platform.gql(INFO_Q, {"id": str(sid)}))["data"]["compute_session"]
    assert info["status"] == "ERROR" and info["status_info"] == "oom-killed"
    data = json.loads(info["status_data"])
    assert "memory limit: 512 MiB" in data["error"]["message"]
    assert data["error"]["oom_killed"] is True and data["error"]["exit_code"] == 137
    assert info["containers"] == [{"status": "ERROR", "status_info": "oom-killed"}]
    await eventually(lambda: sid in joined.destroy_calls)
    # An ERROR session keeps its name until removed; rm ends it for good.
    resp = await platform.signed("DELETE", "/session/oom-1")
    assert resp.status == 200
    s = await session_row(platform, sid)
    assert s.status is SessionStatus.TERMINATED and s.status_info == "oom-killed"


async def test_exited_container_in_heartbeat(platform: ManagerHarness, joined: FakeAgent) -> None:
    _, body = await create(platform, "exit-1")
    sid = uuid.UUID(body["sessionId"])
    joined.containers[sid] = joined.containers[sid].model_copy(
        update={"state": ContainerState.EXITED, "exit_code": 3}
    )
    assert await joined.send_heartbeat(platform) == 200
    s = await session_row(platform, sid)
    assert s.status is SessionStatus.ERROR and s.status_info == "self-terminated"
    assert "exit code 3" in s.status_data["error"]["message"]


async def test_agent_lost_after_timeout(platform: ManagerHarness, joined: FakeAgent) -> None:
    registry = platform.ctx.agents
    assert await registry.mark_lost(utcnow()) == []
    assert await registry.mark_lost(utcnow() + timedelta(seconds=31)) == ["agent-1"]
    async with platform.ctx.db() as db:
        agent = await db.get_one(Agent, "agent-1")
        assert agent.status is AgentStatus.LOST and agent.lost_at is not None
    # No new session goes to a lost agent; its return brings it back.
    status, body = await create(platform, "after-lost", enqueueOnly=True)
    assert status == 201
    await platform.ctx.scheduler.run_pass()
    assert (await session_row(platform, body["sessionId"])).status is SessionStatus.PENDING
    assert await joined.send_heartbeat(platform) == 200
    await wait_status(platform, body["sessionId"], SessionStatus.RUNNING)
