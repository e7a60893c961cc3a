"""Whole passes (snapshot, policy, applier) on both engines: concurrent passes never
over-allocate an agent nor pass a keypair's or group's limits; dependencies; waiting records
and their events."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backendai.common.slots import ResourceSlot
from backendai.common.statuses import SessionResult
from backendai.common.statuses import SessionStatus as S
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import (
    Agent,
    Group,
    Kernel,
    KeyPair,
    KeyPairResourcePolicy,
    Session,
    SessionDependency,
    SessionStatusChange,
)
from backendai.manager.events import EventName, MemoryEventBus, session_factory
from backendai.manager.lifecycle import OCCUPYING_STATUSES
from backendai.manager.scheduler.applier import apply_plan
from backendai.manager.scheduler.policy import schedule
from backendai.manager.scheduler.snapshot import GroupConfig, load_snapshot
from tests.manager.scheduler.world import World, make_world


async def _invariants(w: World, agents: dict[str, int], demo: str) -> Counter[str]:
    async with w.db() as db:
        rows = (
            await db.execute(
                sa.select(Kernel.agent, Kernel.occupied_slots, Session.access_key)
                .join(Session, Session.id == Kernel.session_id)
                .where(Session.status.in_(OCCUPYING_STATUSES))
            )
        ).all()
    per_agent: Counter[str] = Counter()
    per_key: Counter[str] = Counter()
    demo_cpu = 0
    for agent, slots, key in rows:
        cpu = int(ResourceSlot.from_json(slots).get_amount("cpu"))
        per_agent[agent or ""] += cpu
        per_key[key] += 1
        demo_cpu += cpu if key == demo else 0
    assert all(per_agent[a] <= cap for a, cap in agents.items()), per_agent
    assert per_key[demo] <= 3, per_key  # demo's max_concurrent_sessions
    assert demo_cpu <= 5  # demo's total_resource_slots
    assert sum(per_agent.values()) <= 10  # the group's total_resource_slots
    return per_key


async def test_concurrent_passes_keep_every_limit(migrated_db: tuple[str, AsyncEngine]) -> None:
    _, engine = migrated_db
    w = await make_world(session_factory(engine, MemoryEventBus()))
    admin, demo = w.keys
    async with w.db() as db, db.begin():
        db.add(KeyPairResourcePolicy(name="small", max_concurrent_sessions=3,
                                     total_resource_slots={"cpu": "5"}))  # fmt: skip
        await db.flush()
        await db.execute(
            sa.update(KeyPair).where(KeyPair.access_key == demo).values(resource_policy="small")
        )
        await db.execute(sa.update(Group).values(total_resource_slots={"cpu": "10"}))
    agents = dict.fromkeys(await w.add_agents(3, cpu="4"), 4)
    await w.add_pending(demo, 6, slots={"cpu": "2"})
    await w.add_pending(admin, 12, start=100)
    for _ in range(3):
        # Four passes decide on the same snapshot, then commit at once.
        async with w.db() as db:
            snapshot = await load_snapshot(db, utcnow())
        # FIFO and LIFO passes pick different sessions for the same free slots.
        lifo = replace(snapshot, groups={"default": GroupConfig("lifo")})
        plans = [schedule(snapshot), schedule(lifo), schedule(snapshot), schedule(lifo)]
        results = await asyncio.gather(*(apply_plan(w.db, p) for p in plans))
        placed = [sid for r in results for sid in r]
        assert len(placed) == len(set(placed))  # each session placed once
        per_key = await _invariants(w, agents, demo)
        # End two sessions of each keypair: room for the next round.
        async with w.db() as db, db.begin():
            for key in (admin, demo):
                ids = (
                    await db.scalars(
                        sa.select(Session.id)
                        .where(Session.access_key == key, Session.status == S.SCHEDULED)
                        .limit(2)
                    )
                ).all()
                await db.execute(sa.update(Session).where(Session.id.in_(ids))
                                 .values(status=S.TERMINATED))  # fmt: skip
                await db.execute(sa.update(Kernel).where(Kernel.session_id.in_(ids))
                                 .values(status=S.TERMINATED))  # fmt: skip
        assert per_key[admin] + per_key[demo] > 0
    async with w.db() as db:
        reasons = set(
            await db.scalars(sa.select(Session.status_info).where(Session.status == S.PENDING))
        )
    assert any("keypair limit of 3 concurrent sessions" in (r or "") or "group limit" in (r or "")
               or "keypair's resource policy" in (r or "") for r in reasons), reasons  # fmt: skip


async def test_a_failed_dependency_cancels_the_dependant_naming_it(
    migrated_db: tuple[str, AsyncEngine],
) -> None:
    _, engine = migrated_db
    w = await make_world(session_factory(engine, MemoryEventBus()))
    key = w.keys[1]
    await w.add_agents(1, cpu="4")
    failed, ok, running = await w.add_pending(key, 3, start=0)
    after_failed, after_ok, after_running = await w.add_pending(key, 3, start=10)
    async with w.db() as db, db.begin():
        await db.execute(sa.update(Session).where(Session.id == failed)
                         .values(status=S.ERROR, name="train-bad"))  # fmt: skip
        await db.execute(sa.update(Session).where(Session.id == ok)
                         .values(status=S.TERMINATED, result=SessionResult.SUCCESS))  # fmt: skip
        await db.execute(sa.update(Session).where(Session.id == running)
                         .values(status=S.RUNNING, name="train-long"))  # fmt: skip
        db.add_all([SessionDependency(session_id=after_failed, depends_on=failed),
                    SessionDependency(session_id=after_ok, depends_on=ok),
                    SessionDependency(session_id=after_running, depends_on=running)])  # fmt: skip
    _plan, scheduled = await w.one_pass()
    assert scheduled == [after_ok]
    async with w.db() as db:
        cancelled = await db.get_one(Session, after_failed)
        waiting = await db.get_one(Session, after_running)
        history = (await db.scalars(sa.select(SessionStatusChange.reason).where(
            SessionStatusChange.session_id == after_failed))).all()  # fmt: skip
    assert cancelled.status is S.CANCELLED
    assert cancelled.status_info == (
        "cancelled: its dependency train-bad ended as ERROR without success"
    )
    assert "dependency-failed" in history
    assert waiting.status is S.PENDING
    assert waiting.status_info == "waits for train-long (RUNNING) to end successfully"


async def test_waiting_records_and_an_event_on_each_change_of_reason(
    migrated_db: tuple[str, AsyncEngine],
) -> None:
    _, engine = migrated_db
    bus = MemoryEventBus()
    w = await make_world(session_factory(engine, bus))
    key = w.keys[1]
    await w.add_agents(1, cpu="2")
    later = utcnow() + timedelta(hours=1)
    big, timed = await w.add_pending(key, 1, slots={"cpu": "3"}) + await w.add_pending(
        key, 1, start=1, starts_at=later
    )
    async with bus.subscribe() as sub:
        await w.one_pass()
        await w.one_pass()  # same reasons: no new event
        events = []
        while (ev := await sub.get(max_wait=0.2)) is not None:
            events.append(ev)
    assert sorted((e.name, e.session_id) for e in events) == sorted(
        [(EventName.SESSION_PENDING, big), (EventName.SESSION_PENDING, timed)]
    )
    async with w.db() as db:
        s = await db.get_one(Session, big)
        t = await db.get_one(Session, timed)
    assert s.status_data["scheduler"] == {
        "reason": "needs 3 cpu; the most free on any agent of group default is 2",
        "predicate": "agent_capacity",
        "queue_position": 1, "estimated_start": None,
    }  # fmt: skip
    assert t.status_data["scheduler"]["predicate"] == "starts_at"
    assert t.status_data["scheduler"]["estimated_start"] == later.isoformat()
    assert s.status_info == s.status_data["scheduler"]["reason"]
    # The agent grows: the big one starts, the timed one still waits (now first in the queue).
    async with w.db() as db, db.begin():
        await db.execute(sa.update(Agent).values(available_slots={"cpu": "8"}))
    async with bus.subscribe() as sub:
        _, scheduled = await w.one_pass()
        names = []
        while (ev := await sub.get(max_wait=0.2)) is not None:
            names.append(ev.name)
    assert scheduled == [big]
    assert names == [EventName.SESSION_SCHEDULED]  # the timed one's reason did not change
    async with w.db() as db:
        t = await db.get_one(Session, timed, populate_existing=True)
    assert t.status_data["scheduler"]["queue_position"] == 1
    # Its time comes.
    _, scheduled = await w.one_pass(later + timedelta(seconds=1))
    assert scheduled == [timed]


async def test_head_of_line_skipped_then_served_on_both_engines(
    migrated_db: tuple[str, AsyncEngine],
) -> None:
    _, engine = migrated_db
    w = await make_world(session_factory(engine, MemoryEventBus()))
    key = w.keys[0]
    await w.add_agents(1, cpu="8")
    first = await w.add_pending(key, 2, slots={"cpu": "3"})
    assert sorted((await w.one_pass())[1]) == sorted(first)
    # A huge request at the head of the queue, small ones behind it: they start, it waits.
    huge = (await w.add_pending(key, 1, start=10, slots={"cpu": "8"}))[0]
    small = await w.add_pending(key, 3, start=20)
    _, scheduled = await w.one_pass()
    assert sorted(scheduled) == sorted(small[:2])  # 2 cpu were free
    statuses = await w.statuses()
    assert statuses[huge] is S.PENDING and statuses[small[2]] is S.PENDING
    # Once it has waited past reserve_after, the agent is kept for it: nothing else starts
    # there even when room frees up...
    later = utcnow() + timedelta(hours=1)
    async with w.db() as db, db.begin():
        await db.execute(sa.update(Session).where(Session.id == first[0])
                         .values(status=S.TERMINATED))  # fmt: skip
        await db.execute(sa.update(Kernel).where(Kernel.session_id == first[0])
                         .values(status=S.TERMINATED))  # fmt: skip
    plan, scheduled = await w.one_pass(later)
    assert scheduled == []
    assert "reserved for it" in plan.waiting[huge].reason
    # ... and when the agent has drained, the huge session starts first.
    async with w.db() as db, db.begin():
        ids = [first[1], *small[:2]]
        await db.execute(sa.update(Session).where(Session.id.in_(ids))
                         .values(status=S.TERMINATED))  # fmt: skip
        await db.execute(sa.update(Kernel).where(Kernel.session_id.in_(ids))
                         .values(status=S.TERMINATED))  # fmt: skip
    _, scheduled = await w.one_pass(later)
    assert scheduled == [huge]
