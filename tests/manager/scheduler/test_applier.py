"""The plan applier on both engines: concurrent passes never over-allocate an agent."""

from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backendai.common.slots import ResourceSlot
from backendai.common.statuses import AgentStatus
from backendai.common.statuses import SessionStatus as S
from backendai.manager.db.models import Agent, Group, Kernel, KeyPair, Session
from backendai.manager.events import MemoryEventBus, session_factory
from backendai.manager.lifecycle import enqueue
from backendai.manager.scheduler.applier import apply_plan
from backendai.manager.scheduler.policy import Assignment, Plan, Waiting
from backendai.manager.services.bootstrap import bootstrap


async def test_concurrent_plans_do_not_over_allocate(
    migrated_db: tuple[str, AsyncEngine],
) -> None:
    _, engine = migrated_db
    factory = session_factory(engine, MemoryEventBus())
    await bootstrap(factory)
    want = ResourceSlot.from_json({"cpu": "3"})
    ids = [uuid.uuid4() for _ in range(3)]
    async with factory() as db, db.begin():
        kp = await db.scalar(sa.select(KeyPair).limit(1))
        group_id = await db.scalar(sa.select(Group.id).limit(1))
        assert kp is not None and group_id is not None
        db.add(Agent(id="a1", status=AgentStatus.ALIVE, addr="http://127.0.0.1:1",
                     available_slots={"cpu": "4"}, images=["img:1"]))  # fmt: skip
        for i, sid in enumerate(ids):
            s = Session(id=sid, name=f"c-{i}", domain_name="default", group_id=group_id,
                        user_uuid=kp.user, access_key=kp.access_key, image="img:1",
                        requested_slots=want.to_json())  # fmt: skip
            await enqueue(db, s, [Kernel(id=sid, session_id=sid, image="img:1")], reason="t")
    # Three passes decided on the same stale snapshot, each placing "its" session on a1.
    plans = [Plan((Assignment(sid, "a1", want),), {}) for sid in ids]
    results = await asyncio.gather(*(apply_plan(factory, p) for p in plans))
    assert sum(len(r) for r in results) == 1
    async with factory() as db:
        statuses = sorted((await db.scalars(sa.select(Session.status))).all())
        agent = await db.get_one(Agent, "a1")
        placed = (await db.scalars(sa.select(Kernel).where(Kernel.agent == "a1"))).all()
    assert statuses == sorted([S.SCHEDULED, S.PENDING, S.PENDING])
    assert agent.occupied_slots == {"cpu": "3"}
    assert [k.occupied_slots for k in placed] == [{"cpu": "3"}]
    # Waiting sessions get their reason, once.
    pending = [sid for sid in ids if sid not in results[0] + results[1] + results[2]]
    waiting = {sid: Waiting("no agent has 3 free cpu (largest free: 1)", n)
               for n, sid in enumerate(pending, start=1)}  # fmt: skip
    assert await apply_plan(factory, Plan((), waiting)) == []
    async with factory() as db:
        s = await db.get_one(Session, pending[1])
    assert s.status_info == "no agent has 3 free cpu (largest free: 1)"
    assert s.status_data == {
        "scheduler": {
            "reason": s.status_info, "predicate": "", "queue_position": 2, "estimated_start": None
        }
    }  # fmt: skip
