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
