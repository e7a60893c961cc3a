"""Admission through ``POST /session``: what could never fit is refused at submit naming the
limit; what could fit later waits with its reason (concurrency, starts-at, dependencies)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from backendai.common.statuses import SessionStatus
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import Group, KeyPairResourcePolicy, Session, SessionDependency
from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import create, session_row, wait_status
from tests.manager.fake_agent import FakeAgent


async def _policy(platform: ManagerHarness, **values: object) -> None:
    async with platform.ctx.db() as db, db.begin():
        await db.execute(sa.update(KeyPairResourcePolicy).values(**values))


async def test_above_the_policy_total_is_refused_at_submit_naming_the_limit(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    await _policy(platform, total_resource_slots={"cpu": "2"})
    status, body = await create(platform, "too-big", config={"resources": {"cpu": "3"}})
    assert status == 400 and body["type"].endswith("/quota-exceeded")
    assert "3 cpu (allowed in total: 2)" in body["msg"]
    assert "keypair's resource policy default" in body["msg"]
    async with platform.ctx.db() as db, db.begin():
        await db.execute(sa.update(Group).values(total_resource_slots={"cpu": "1"}))
    status, body = await create(platform, "too-big", config={"resources": {"cpu": "2"}})
    assert status == 400 and "more than the group allows in total" in body["msg"]
    status, body = await create(platform, "fits-later", config={"resources": {"cpu": "1"}})
    assert status == 201 and body["status"] == "RUNNING"


async def test_concurrency_past_the_limit_waits_and_past_the_queue_is_refused(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    await _policy(platform, max_concurrent_sessions=1, max_pending_session_count=1)
    status, first = await create(platform, "conc-1")
    assert status == 201 and first["status"] == "RUNNING"
    status, second = await create(platform, "conc-2", enqueueOnly=True)
    assert status == 201
    await platform.ctx.scheduler.run_pass()
    s = await session_row(platform, second["sessionId"])
    assert s.status is SessionStatus.PENDING
    assert s.status_info == "keypair limit of 1 concurrent session reached"
    assert s.status_data["scheduler"]["predicate"] == "keypair_concurrency"
    status, third = await create(platform, "conc-3", enqueueOnly=True)
    assert status == 400 and "your limit is 2 (1 at once, 1 more waiting)" in third["msg"]
    assert (await platform.signed("DELETE", "/session/conc-1")).status == 200
    await wait_status(platform, second["sessionId"], SessionStatus.RUNNING)


async def test_starts_at_relative_waits_with_its_time(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    before = utcnow()
    status, body = await create(platform, "later-1", starts_at="1h30m", enqueueOnly=True)
    assert status == 201
    await platform.ctx.scheduler.run_pass()
    s = await session_row(platform, body["sessionId"])
    assert s.status is SessionStatus.PENDING and s.starts_at is not None
    assert timedelta(minutes=89) < s.starts_at - before < timedelta(minutes=91)
    record = s.status_data["scheduler"]
    assert record["predicate"] == "starts_at"
    assert record["estimated_start"] == s.starts_at.isoformat()
    async with platform.ctx.db() as db, db.begin():  # its time comes
        await db.execute(sa.update(Session).where(Session.id == s.id)
                         .values(starts_at=utcnow() - timedelta(seconds=1)))  # fmt: skip
    await platform.ctx.scheduler.run_pass()
    await wait_status(platform, body["sessionId"], SessionStatus.RUNNING)


async def test_dependencies_are_stored_and_unknown_ones_refused(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    status, first = await create(platform, "dep-first")
    assert status == 201
    status, body = await create(
        platform, "dep-second", dependencies=["dep-first"], enqueueOnly=True
    )
    assert status == 201
    async with platform.ctx.db() as db:
        deps = (await db.scalars(sa.select(SessionDependency.depends_on).where(
            SessionDependency.session_id == uuid.UUID(body["sessionId"])))).all()  # fmt: skip
    assert deps == [uuid.UUID(first["sessionId"])]
    await platform.ctx.scheduler.run_pass()
    s = await session_row(platform, body["sessionId"])
    assert s.status_info == "waits for dep-first (RUNNING) to end successfully"
    status, body = await create(platform, "dep-third", dependencies=["no-such-session"])
    assert status == 404 and "no-such-session" in body["msg"]


async def test_only_admins_set_a_priority(platform: ManagerHarness, joined: FakeAgent) -> None:
    status, body = await create(platform, "prio-user", priority=5)
    assert status == 403 and "priority" in body["msg"]
    resp = await platform.signed("POST", "/session", as_="superadmin", body={
        "name": "prio-admin", "image": "python", "priority": 5, "enqueueOnly": True})  # fmt: skip
    assert resp.status == 201
    s = await session_row(platform, (await resp.json())["sessionId"])
    assert s.priority == 5
