"""The session state machine: the transition table, and the one function that applies it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backendai.common.errors import InvalidSessionState
from backendai.common.statuses import SessionStatus as S
from backendai.manager.db.models import Group, Kernel, KeyPair, Session, SessionStatusChange
from backendai.manager.events import EventName, MemoryEventBus, SessionEvent, session_factory
from backendai.manager.lifecycle import (
    FINAL_STATUSES,
    LIVE_STATUSES,
    TRANSITIONS,
    can_transition,
    enqueue,
    load_for_update,
    transition,
)
from backendai.manager.services.bootstrap import bootstrap

ALLOWED = [
    (S.PENDING, S.SCHEDULED), (S.PENDING, S.CANCELLED), (S.SCHEDULED, S.PREPARING),
    (S.PREPARING, S.RUNNING), (S.PREPARING, S.ERROR), (S.RUNNING, S.RESTARTING),
    (S.RESTARTING, S.RUNNING), (S.RUNNING, S.TERMINATING), (S.TERMINATING, S.TERMINATED),
    (S.RUNNING, S.ERROR), (S.ERROR, S.TERMINATED),
]  # fmt: skip
FORBIDDEN = [
    (S.PENDING, S.RUNNING), (S.RUNNING, S.PENDING), (S.RUNNING, S.CANCELLED),
    (S.TERMINATED, S.RUNNING), (S.CANCELLED, S.PENDING), (S.TERMINATED, S.ERROR),
    (S.RUNNING, S.TERMINATED), (S.PENDING, S.TERMINATING),
]  # fmt: skip


@pytest.mark.parametrize(("current", "to"), ALLOWED)
def test_allowed(current: S, to: S) -> None:
    assert can_transition(current, to)


@pytest.mark.parametrize(("current", "to"), FORBIDDEN)
def test_forbidden(current: S, to: S) -> None:
    assert not can_transition(current, to)


def test_table_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(S)
    assert {S.TERMINATED, S.CANCELLED} == FINAL_STATUSES
    assert S.ERROR in LIVE_STATUSES  # an ERROR session holds its name until removed


@pytest.fixture
async def db(
    migrated_db: tuple[str, AsyncEngine],
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], MemoryEventBus]]:
    _, engine = migrated_db
    bus = MemoryEventBus()
    factory = session_factory(engine, bus)
    await bootstrap(factory)
    yield factory, bus


async def _new_session(factory: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    async with factory() as db, db.begin():
        kp = await db.scalar(sa.select(KeyPair).limit(1))
        group_id = await db.scalar(sa.select(Group.id).limit(1))
        assert kp is not None and group_id is not None
        sid = uuid.uuid4()
        s = Session(id=sid, name="life-1", domain_name="default", group_id=group_id,
                    user_uuid=kp.user, access_key=kp.access_key, image="img:1")  # fmt: skip
        await enqueue(db, s, [Kernel(id=sid, session_id=sid, image="img:1")], reason="new")
    return sid


async def _drain(sub: object) -> list[SessionEvent]:
    out = []
    while (ev := await sub.get(max_wait=0.05)) is not None:  # type: ignore[attr-defined]
        out.append(ev)
    return out


async def test_transition_records_and_publishes_after_commit(
    db: tuple[async_sessionmaker[AsyncSession], MemoryEventBus],
) -> None:
    factory, bus = db
    async with bus.subscribe() as sub:
        sid = await _new_session(factory)
        assert [e.name for e in await _drain(sub)] == [
            EventName.SESSION_ENQUEUED, EventName.KERNEL_ENQUEUED
        ]  # fmt: skip
        for to in (S.SCHEDULED, S.PREPARING, S.RUNNING):
            async with factory() as session, session.begin():
                s = await load_for_update(session, sid)
                assert s is not None
                await transition(session, s, to, reason=f"to-{to.value.lower()}")
        names = [e.name.value for e in await _drain(sub)]
        assert names == ["session_scheduled", "session_preparing", "kernel_preparing",
                         "kernel_started", "session_started"]  # fmt: skip
        # A rolled-back transition publishes nothing and records nothing.
        with pytest.raises(RuntimeError):
            async with factory() as session, session.begin():
                s = await load_for_update(session, sid)
                assert s is not None
                await transition(session, s, S.ERROR, reason="boom", data={"x": 1})
                raise RuntimeError("rollback")
        assert await _drain(sub) == []
        async with factory() as session, session.begin():
            s = await load_for_update(session, sid)
            assert s is not None
            with pytest.raises(InvalidSessionState, match="A RUNNING session cannot become"):
                await transition(session, s, S.PENDING, reason="nope")
            await transition(session, s, S.ERROR, reason="oom-killed", data={"error": {"m": 1}})
        [k_ev, s_ev] = await _drain(sub)
        assert (k_ev.name, s_ev.name) == (EventName.KERNEL_TERMINATED, EventName.SESSION_TERMINATED)
        assert s_ev.reason == "oom-killed"
    async with factory() as session:
        s = await session.get_one(Session, sid)
        k = await session.get_one(Kernel, sid)
        rows = (await session.execute(
            sa.select(SessionStatusChange.status, SessionStatusChange.reason)
            .where(SessionStatusChange.session_id == sid).order_by(SessionStatusChange.id)
        )).all()  # fmt: skip
    assert s.status is S.ERROR and s.status_info == "oom-killed"
    assert s.status_data == {"error": {"m": 1}} and s.terminated_at is not None
    assert k.status is S.ERROR and k.status_info == "oom-killed" and k.terminated_at is not None
    assert [(st.value, r) for st, r in rows] == [
        ("PENDING", "new"), ("SCHEDULED", "to-scheduled"), ("PREPARING", "to-preparing"),
        ("RUNNING", "to-running"), ("ERROR", "oom-killed"),
    ]  # fmt: skip
