"""A PENDING session's reason, queue position and estimated start, as the API shows them: the
GraphQL ``compute_session(s)`` fields both CLIs read (``status_info`` carries all three in one
line, since client 20.09 prints no other field of a waiting session) and ``GET /session``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backendai.common.statuses import SessionStatus
from backendai.manager.db.models import Session
from tests.fixtures.platform import ManagerHarness, running_manager
from tests.manager.conftest import create, session_row, wait_status
from tests.manager.tenants import IMAGE, Tenants, add_tenants

RECORD = {
    "reason": "needs 3 cpu; the most free on any agent of group default is 1",
    "predicate": "agent_capacity",
    "queue_position": 2,
    "estimated_start": "2030-01-31T09:00:00+00:00",
}
SESSION_Q = """query($id: UUID!) { compute_session(id: $id) {
  name status status_info status_data queue_position estimated_start } }"""
LIST_Q = """query($limit: Int!, $offset: Int!, $status: String) {
  compute_session_list(limit: $limit, offset: $offset, status: $status) {
    items { name status status_info queue_position estimated_start } total_count } }"""


@pytest.fixture
async def tenants(tmp_path: Path) -> AsyncIterator[Tenants]:
    """A manager whose scheduler passes only when a session is enqueued, with no agent (every
    session waits), so that a record a test writes stays as written; and its tenants."""
    async with running_manager(
        tmp_path, scheduler_interval=3600, kernel_vanish_grace=0.0, sse_ping_interval=0.2
    ) as harness:
        yield await add_tenants(harness)


@pytest.fixture
def quiet(tenants: Tenants) -> ManagerHarness:
    return tenants.harness


async def _waiting(manager: ManagerHarness, name: str) -> str:
    """A new PENDING session's id, once the pass its enqueue triggered has given a reason."""
    status, body = await create(manager, name, IMAGE, enqueueOnly=True)
    assert status == 201 and body["status"] == "PENDING", body
    sid = str(body["sessionId"])
    for _ in range(250):
        if (await session_row(manager, sid)).status_info:
            return sid
        await asyncio.sleep(0.02)
    raise AssertionError("the scheduler recorded no reason")


async def _record(manager: ManagerHarness, sid: str, record: dict[str, Any] | None) -> None:
    async with manager.ctx.db() as db, db.begin():
        s = await db.get_one(Session, uuid.UUID(sid))
        s.status_data = {"scheduler": record} if record is not None else {}
        if record is not None:
            s.status_info = record["reason"]


async def test_graphql_shows_reason_position_and_estimate(quiet: ManagerHarness) -> None:
    sid = await _waiting(quiet, "pend-gql")
    await _record(quiet, sid, RECORD)
    node = (await quiet.gql(SESSION_Q, {"id": sid}))["data"]["compute_session"]
    assert node["status"] == "PENDING"
    assert node["status_info"] == (
        "needs 3 cpu; the most free on any agent of group default is 1 "
        "(queue position 2 in resource group default, estimated start 2030-01-31 09:00:00 UTC)"
    )
    assert node["queue_position"] == 2
    assert node["estimated_start"].startswith("2030-01-31T09:00:00")
    assert '"predicate": "agent_capacity"' in node["status_data"]  # kept for scripts
    listing = await quiet.gql(LIST_Q, {"limit": 10, "offset": 0, "status": "PENDING"})
    [item] = listing["data"]["compute_session_list"]["items"]
    assert item["status_info"] == node["status_info"] and item["queue_position"] == 2


async def test_rest_info_shows_them(quiet: ManagerHarness) -> None:
    sid = await _waiting(quiet, "pend-rest")
    await _record(quiet, sid, RECORD | {"estimated_start": None})
    resp = await quiet.signed("GET", "/session/pend-rest")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "PENDING"
    assert body["statusInfo"] == (
        "needs 3 cpu; the most free on any agent of group default is 1 "
        "(queue position 2 in resource group default)"
    )
    assert body["queuePosition"] == 2 and body["estimatedStart"] is None
    assert body["scalingGroup"] == "default"
    assert body["statusData"]["scheduler"]["predicate"] == "agent_capacity"


async def test_what_the_scheduler_writes_today_is_shown(quiet: ManagerHarness) -> None:
    """No record written by the test: whatever the pass recorded reaches the reader."""
    sid = await _waiting(quiet, "pend-live")
    s = await session_row(quiet, sid)
    node = (await quiet.gql(SESSION_Q, {"id": sid}))["data"]["compute_session"]
    assert node["status_info"].startswith(s.status_info or "<none>")
    assert node["queue_position"] == 1
    assert "queue position 1 in resource group default" in node["status_info"]


async def test_no_record_and_other_statuses_are_left_alone(quiet: ManagerHarness) -> None:
    sid = await _waiting(quiet, "pend-bare")
    await _record(quiet, sid, None)
    node = (await quiet.gql(SESSION_Q, {"id": sid}))["data"]["compute_session"]
    assert node["queue_position"] is None and node["estimated_start"] is None
    assert node["status_info"] == (await session_row(quiet, sid)).status_info
    resp = await quiet.signed("DELETE", "/session/pend-bare")
    assert resp.status == 200
    s = await wait_status(quiet, sid, SessionStatus.CANCELLED)
    node = (await quiet.gql(SESSION_Q, {"id": sid}))["data"]["compute_session"]
    assert node["queue_position"] is None
    assert node["status_info"] == s.status_info


async def test_others_see_nothing(quiet: ManagerHarness, tenants: Tenants) -> None:
    sid = await _waiting(quiet, "pend-mine")
    await _record(quiet, sid, RECORD)
    body = await tenants.gql("bob", SESSION_Q, {"id": sid})
    assert body["data"]["compute_session"] is None
    status, _ = await tenants.call("bob", "GET", f"/session/{sid}")
    assert status == 404
