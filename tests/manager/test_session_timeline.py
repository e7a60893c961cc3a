"""``compute_session { status_history }``: the timeline the web UI shows per session, every
status with its time and reason, oldest first, and only to those who may read the session."""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa

from backendai.common.statuses import SessionStatus, UserRole
from backendai.manager.db.models import Group
from backendai.manager.services.bootstrap import create_user
from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import create, wait_status
from tests.manager.fake_agent import FakeAgent

QUERY = """query($id: UUID!) { compute_session(id: $id) {
  name status status_history { status reason changed_at } } }"""


async def test_the_timeline_lists_every_status_change_in_order(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    status, body = await create(platform, "timeline-1")
    assert status == 201, body
    sid = uuid.UUID(body["sessionId"])
    resp = await platform.signed("DELETE", "/session/timeline-1")
    assert resp.status == 200, await resp.text()
    await wait_status(platform, sid, SessionStatus.TERMINATED)
    node = (await platform.gql(QUERY, {"id": str(sid)}))["data"]["compute_session"]
    statuses = [c["status"] for c in node["status_history"]]
    assert statuses[0] == "PENDING" and statuses[-1] == "TERMINATED"
    assert "RUNNING" in statuses and statuses.index("RUNNING") < statuses.index("TERMINATING")
    times = [c["changed_at"] for c in node["status_history"]]
    assert times == sorted(times)
    assert node["status_history"][-1]["reason"]  # why it ended is said


async def test_another_user_sees_no_timeline(platform: ManagerHarness, joined: FakeAgent) -> None:
    status, body = await create(platform, "timeline-2")
    assert status == 201, body
    async with platform.ctx.db() as db, db.begin():
        group = await db.scalar(sa.select(Group.id).where(Group.name == "default"))
        assert group is not None
        bob = await create_user(db, email="tl-bob@example.com", role=UserRole.USER, group_id=group)
    payload = {"query": QUERY, "variables": {"id": body["sessionId"]}}
    headers = platform.headers(
        bob.access_key, bob.secret_key, "POST", "/admin/gql", "application/json"
    )
    async with platform.client.post("/admin/gql", data=json.dumps(payload), headers=headers) as r:
        assert r.status == 200
        answer = await r.json()
    assert answer["data"]["compute_session"] is None


async def test_a_heartbeats_counters_are_the_running_sessions_live_stat(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    """What the web UI's sessions list shows as used: the latest heartbeat's counters."""
    status, body = await create(platform, "live-stat-1")
    assert status == 201, body
    kid = uuid.UUID(body["sessionId"])
    stat = {
        "cpu_util": {"current": "42.0", "capacity": None, "unit_hint": "percent"},
        "mem": {"current": "1048576", "capacity": None, "unit_hint": "bytes"},
    }
    joined.containers[kid] = joined.containers[kid].model_copy(update={"stat": stat})
    assert await joined.send_heartbeat(platform) == 200
    query = """query($id: UUID!) { compute_session(id: $id) { containers { live_stat } } }"""
    node = (await platform.gql(query, {"id": str(kid)}))["data"]["compute_session"]
    assert json.loads(node["containers"][0]["live_stat"]) == stat


async def test_an_agents_live_use_is_the_sum_of_its_running_kernels(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    """The agents page shows what the agent's sessions use now, next to its capacity."""
    for i, (cpu, mem) in enumerate([("30.5", "1000"), ("20", "24")]):
        status, body = await create(platform, f"live-use-{i}")
        assert status == 201, body
        kid = uuid.UUID(body["sessionId"])
        stat = {"cpu_util": {"current": cpu}, "mem": {"current": mem}}
        joined.containers[kid] = joined.containers[kid].model_copy(update={"stat": stat})
    assert await joined.send_heartbeat(platform) == 200
    query = "query($id: String!) { agent(agent_id: $id) { cpu_cur_pct mem_cur_bytes live_stat } }"
    node = (await platform.gql(query, {"id": joined.agent_id}, as_="superadmin"))["data"]["agent"]
    assert (node["cpu_cur_pct"], int(node["mem_cur_bytes"])) == (50.5, 1024)
    assert json.loads(node["live_stat"])["mem"]["current"] == "1024"
