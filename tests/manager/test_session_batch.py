"""``POST /session`` with ``count``: N identical sessions NAME-1..NAME-N, each queued on its own,
all or none."""

from __future__ import annotations

import sqlalchemy as sa

from backendai.manager.db.models import KeyPairResourcePolicy
from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import count_sessions, create, session_row
from tests.manager.fake_agent import FakeAgent


async def test_three_sessions_each_queued(platform: ManagerHarness, joined: FakeAgent) -> None:
    status, body = await create(platform, "trio", config={"resources": {"cpu": "2"}}, count=3)
    assert status == 201, body
    names = [s["sessionName"] for s in body["sessions"]]
    assert names == ["trio-1", "trio-2", "trio-3"]
    assert all(s["created"] and s["status"] == "PENDING" for s in body["sessions"])
    rows = [await session_row(platform, s["sessionId"]) for s in body["sessions"]]
    assert {r.requested_slots["cpu"] for r in rows} == {"2"}
    assert len({r.id for r in rows}) == 3


async def test_all_or_nothing(platform: ManagerHarness, joined: FakeAgent) -> None:
    status, _ = await create(platform, "dup-2", enqueueOnly=True)
    assert status == 201
    status, body = await create(platform, "dup", count=3)
    assert status == 400 and "dup-2" in body["msg"], body
    status, body = await create(platform, "okay", image="nosuch:1", count=3)
    assert status == 404, body
    status, body = await create(platform, "x" * 63, count=3)
    assert status == 400 and "Invalid session name" in body["msg"]
    status, body = await create(platform, "many", count=101)
    assert status == 400
    assert await count_sessions(platform) == 1


async def test_more_than_the_concurrency_limit_is_refused(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    async with platform.ctx.db() as db, db.begin():
        await db.execute(sa.update(KeyPairResourcePolicy).values(max_concurrent_sessions=2))
    status, body = await create(platform, "over", count=3, enqueueOnly=True)
    assert status == 400, body
    assert body["type"].endswith("quota-exceeded")
    assert "max_concurrent_sessions" in body["msg"] and "is 2" in body["msg"]
    status, _ = await create(platform, "single", enqueueOnly=True)
    assert status == 201
    status, body = await create(platform, "pair", count=2)
    assert status == 400 and "you already have 1" in body["msg"], body
    assert await count_sessions(platform) == 1
