"""Agents as administrators see and steer them: include in or exclude from scheduling
(``manager scheduler include-agents/exclude-agents``), and recalculating what the agents'
kernels occupy (``admin resources recalculate-usage``)."""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import NotFound
from backendai.manager import authz
from backendai.manager.authz import Action, Resource
from backendai.manager.db.locks import lock_row
from backendai.manager.db.models import Agent
from backendai.manager.scheduler.snapshot import occupancy
from backendai.manager.services.auth import Principal


class SchedulerOperation(BaseModel):
    """``POST /manager/scheduler/operation`` as Backend.AI's client sends it."""

    op: Literal["include-agents", "exclude-agents"]
    args: list[str] = Field(default_factory=list, max_length=1000)


async def set_schedulable(db: AsyncSession, principal: Principal, op: SchedulerOperation) -> None:
    """Mark the agents as (not) schedulable; an excluded agent starts no new session until it
    is included again, whatever restarts or heartbeats happen meanwhile. All or nothing: an
    unknown agent id refuses the whole operation."""
    authz.require_any(principal, Resource.AGENT, Action.UPDATE)
    ids = list(dict.fromkeys(op.args))
    known = set(await db.scalars(sa.select(Agent.id).where(Agent.id.in_(ids))))
    missing = [i for i in ids if i not in known]
    if missing:
        raise NotFound(f"No agent with the id {', '.join(missing)}.", data={"agents": missing})
    await db.execute(
        sa.update(Agent)
        .where(Agent.id.in_(ids))
        .values(schedulable=op.op == "include-agents")
        .execution_options(synchronize_session=False)
    )


async def recalculate_usage(db: AsyncSession, principal: Principal) -> dict[str, dict[str, str]]:
    """Set every agent's occupied slots to what its live kernels hold; returns them by agent.
    (A keypair's usage is always counted from its live sessions, so it never drifts.)"""
    authz.require_any(principal, Resource.AGENT, Action.UPDATE)
    ids = list(await db.scalars(sa.select(Agent.id).order_by(Agent.id)))
    result: dict[str, dict[str, str]] = {}
    for agent_id in ids:  # in id order, as the scheduler's applier locks them
        await lock_row(db, Agent.id, agent_id)
        used = (await occupancy(db, [agent_id]))[agent_id]
        agent = await db.get_one(Agent, agent_id, populate_existing=True)
        agent.occupied_slots = used.to_json()
        result[agent_id] = agent.occupied_slots
    return result
