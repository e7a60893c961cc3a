"""Idle sessions end after the keypair policy's idle timeout (30 minutes by default)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from backendai.common.statuses import SessionStatus
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import KeyPairResourcePolicy
from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import create, history, session_row
from tests.manager.fake_agent import FakeAgent


async def test_idle_session_is_terminated(platform: ManagerHarness, joined: FakeAgent) -> None:
    _, body = await create(platform, "idle-1")
    sid = uuid.UUID(body["sessionId"])
    idle = platform.ctx.idle
    assert await idle.sweep(utcnow() + timedelta(minutes=29)) == []
    await idle.touch(sid, utcnow() + timedelta(minutes=20))  # used 20 minutes in
    assert await idle.sweep(utcnow() + timedelta(minutes=31)) == []
    assert await idle.sweep(utcnow() + timedelta(minutes=51)) == [sid]
    s = await session_row(platform, sid)
    assert s.status is SessionStatus.TERMINATED and s.status_info == "idle-timeout"
    assert (await history(platform, sid))[-1] == ("TERMINATED", "idle-timeout")
    assert joined.destroy_calls == [sid]


async def test_zero_timeout_means_never(platform: ManagerHarness, joined: FakeAgent) -> None:
    async with platform.ctx.db() as db, db.begin():
        await db.execute(sa.update(KeyPairResourcePolicy).values(idle_timeout=0))
    await create(platform, "idle-2")
    assert await platform.ctx.idle.sweep(utcnow() + timedelta(days=3)) == []
