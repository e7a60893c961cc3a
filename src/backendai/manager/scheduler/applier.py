"""Committing a plan: the only writer of allocations.

One transaction per pass. Each assignment locks its agent's row first (agents in id order, so
concurrent passes cannot deadlock), then re-reads that agent's occupancy: if the snapshot was
stale and the session no longer fits, it stays PENDING for the next pass. No agent is ever
over-allocated, whatever runs concurrently.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.slots import ResourceSlot
from backendai.common.statuses import AgentStatus, SessionStatus
from backendai.manager.db.locks import lock_row
from backendai.manager.db.models import Agent, Kernel, Session
from backendai.manager.lifecycle import transition
from backendai.manager.scheduler.policy import Assignment, Plan, Waiting
from backendai.manager.scheduler.snapshot import occupancy


async def _assign(db: AsyncSession, a: Assignment) -> bool:
    session = await db.get(Session, a.session_id)
    if session is None or session.status is not SessionStatus.PENDING:
        return False
    if not await lock_row(db, Agent.id, a.agent_id):
        return False
    agent = await db.get_one(Agent, a.agent_id, populate_existing=True)
    if agent.status is not AgentStatus.ALIVE or not agent.schedulable:
        return False
    used = (await occupancy(db, [agent.id]))[agent.id]
    capacity = ResourceSlot.from_json(agent.available_slots)
    if not a.slots.fits_in(capacity - used):
        return False
    kernels = list(await db.scalars(sa.select(Kernel).where(Kernel.session_id == session.id)))
    for k in kernels:
        k.agent, k.agent_addr, k.occupied_slots = agent.id, agent.addr, a.slots.to_json()
        k.architecture = agent.architecture
    session.occupying_slots = a.slots.to_json()
    session.scaling_group_name = agent.scaling_group
    await transition(
        db,
        session,
        SessionStatus.SCHEDULED,
        reason="scheduled",
        info="",
        data={"scheduler": {"agent": agent.id}},
    )
    agent.occupied_slots = (used + a.slots).to_json()
    return True


def _waiting_data(w: Waiting) -> dict[str, Any]:
    return {"scheduler": {"reason": w.reason, "queue_position": w.position}}


async def apply_plan(db_factory: async_sessionmaker[AsyncSession], plan: Plan) -> list[uuid.UUID]:
    """Commit ``plan``; returns the sessions that were scheduled."""
    scheduled: list[uuid.UUID] = []
    async with db_factory() as db, db.begin():
        for a in sorted(plan.assignments, key=lambda x: (x.agent_id, str(x.session_id))):
            if await _assign(db, a):
                scheduled.append(a.session_id)
        if plan.waiting:
            rows = await db.scalars(
                sa.select(Session).where(
                    Session.id.in_(list(plan.waiting)), Session.status == SessionStatus.PENDING
                )
            )
            for session in rows:
                waiting = plan.waiting[session.id]
                data = _waiting_data(waiting)
                if session.status_info != waiting.reason[:256] or session.status_data != data:
                    session.status_info, session.status_data = waiting.reason[:256], data
    return scheduled
