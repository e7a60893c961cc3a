"""What a scheduling pass decides over: pending sessions and the agents' capacity and use.

Read without locks; it may be stale by the time the plan is applied, which is why the applier
checks every allocation again inside its transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.slots import ResourceSlot
from backendai.common.statuses import AgentStatus, SessionStatus
from backendai.manager.db.models import Agent, Kernel, Session
from backendai.manager.lifecycle import OCCUPYING_STATUSES


@dataclass(frozen=True)
class PendingSession:
    id: uuid.UUID
    name: str
    access_key: str
    image: str
    requested: ResourceSlot
    scaling_group: str | None
    created_at: datetime
    priority: int = 0
    starts_at: datetime | None = None
    status_info: str | None = None


@dataclass(frozen=True)
class AgentState:
    id: str
    scaling_group: str
    capacity: ResourceSlot
    occupied: ResourceSlot
    images: frozenset[str]

    @property
    def free(self) -> ResourceSlot:
        return self.capacity - self.occupied


@dataclass(frozen=True)
class Snapshot:
    now: datetime
    pending: tuple[PendingSession, ...]
    agents: tuple[AgentState, ...]


async def occupancy(db: AsyncSession, agent_ids: Iterable[str]) -> dict[str, ResourceSlot]:
    """What the kernels placed on each agent hold now (summed in Python: slots are JSON)."""
    ids = list(agent_ids)
    used: dict[str, ResourceSlot] = {a: ResourceSlot() for a in ids}
    if not ids:
        return used
    rows = await db.execute(
        sa.select(Kernel.agent, Kernel.occupied_slots).where(
            Kernel.agent.in_(ids), Kernel.status.in_(OCCUPYING_STATUSES)
        )
    )
    for agent_id, slots in rows:
        if agent_id is not None:
            used[agent_id] = used[agent_id] + ResourceSlot.from_json(slots)
    return used


async def alive_agents(db: AsyncSession) -> list[Agent]:
    rows = await db.scalars(
        sa.select(Agent)
        .where(Agent.status == AgentStatus.ALIVE, Agent.schedulable.is_(True))
        .order_by(Agent.id)
    )
    return list(rows)


async def load_snapshot(db: AsyncSession, now: datetime) -> Snapshot:
    sessions = await db.scalars(
        sa.select(Session)
        .where(Session.status == SessionStatus.PENDING)
        .order_by(Session.priority.desc(), Session.created_at, Session.id)
    )
    pending = tuple(
        PendingSession(
            id=s.id,
            name=s.name,
            access_key=s.access_key,
            image=s.image,
            requested=ResourceSlot.from_json(s.requested_slots),
            scaling_group=s.scaling_group_name,
            created_at=s.created_at,
            priority=s.priority,
            starts_at=s.starts_at,
            status_info=s.status_info,
        )
        for s in sessions
    )
    agents = await alive_agents(db)
    used = await occupancy(db, [a.id for a in agents])
    states = tuple(
        AgentState(
            id=a.id,
            scaling_group=a.scaling_group,
            capacity=ResourceSlot.from_json(a.available_slots),
            occupied=used[a.id],
            images=frozenset(a.images),
        )
        for a in agents
    )
    return Snapshot(now=now, pending=pending, agents=states)
