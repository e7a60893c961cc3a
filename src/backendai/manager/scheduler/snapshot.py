"""What a scheduling pass decides over: pending sessions and the agents' capacity and use.

Read without locks; it may be stale by the time the plan is applied, which is why the applier
checks every allocation again inside its transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.slots import ResourceSlot
from backendai.common.statuses import AgentStatus, DefaultForUnspecified, SessionStatus
from backendai.manager.db.models import Agent, Kernel, KeyPair, KeyPairResourcePolicy, Session
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
    # The keypair policy's total slots, for each slot it limits (see ``keypair_limits``).
    keypair_limit: ResourceSlot | None = None


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
    # What each pending session's keypair holds now (sessions placed and not yet ended).
    keypair_used: dict[str, ResourceSlot] = field(default_factory=dict)


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


def limit_for(
    policy: tuple[dict[str, str], DefaultForUnspecified] | None, requested: dict[str, str]
) -> ResourceSlot | None:
    """The slots a keypair policy limits for a session asking for ``requested``: those it names,
    and (``LIMITED``) every other slot the session asks for, limited to zero. None: no limit."""
    if policy is None:
        return None
    named, default = ResourceSlot.from_json(policy[0]), policy[1]
    if default is DefaultForUnspecified.LIMITED:
        unnamed = {
            k: Decimal(0) for k in ResourceSlot.from_json(requested).nonzero() if k not in named
        }
        return ResourceSlot(dict(named) | unnamed)
    return named if named.nonzero() else None


async def keypair_limits(
    db: AsyncSession,
) -> dict[str, tuple[dict[str, str], DefaultForUnspecified]]:
    """Each keypair's policy's total slots (keypairs of pending sessions are few; policies
    fewer, so the whole join is small)."""
    rows = await db.execute(
        sa.select(
            KeyPair.access_key,
            KeyPairResourcePolicy.total_resource_slots,
            KeyPairResourcePolicy.default_for_unspecified,
        )
        .join(KeyPairResourcePolicy, KeyPairResourcePolicy.name == KeyPair.resource_policy)
        .where(
            KeyPair.access_key.in_(
                sa.select(Session.access_key).where(Session.status == SessionStatus.PENDING)
            )
        )
    )
    return {key: (slots, default) for key, slots, default in rows}


async def keypair_occupancy(
    db: AsyncSession, access_keys: Iterable[str]
) -> dict[str, ResourceSlot]:
    """What the sessions of each keypair hold now."""
    keys = list(access_keys)
    used: dict[str, ResourceSlot] = {k: ResourceSlot() for k in keys}
    if not keys:
        return used
    rows = await db.execute(
        sa.select(Session.access_key, Session.occupying_slots).where(
            Session.access_key.in_(keys), Session.status.in_(OCCUPYING_STATUSES)
        )
    )
    for key, slots in rows:
        used[key] = used[key] + ResourceSlot.from_json(slots)
    return used


async def load_snapshot(db: AsyncSession, now: datetime) -> Snapshot:
    limits = await keypair_limits(db)
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
            keypair_limit=limit_for(limits.get(s.access_key), s.requested_slots),
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
    used = await keypair_occupancy(db, {s.access_key for s in pending})
    return Snapshot(now=now, pending=pending, agents=states, keypair_used=used)
