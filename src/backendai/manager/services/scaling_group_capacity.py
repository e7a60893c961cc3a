"""A resource group's capacity and occupancy: the sums of its agents' slots, per agent status.

``available_slots`` is what the agents have in all (their reported capacity) and
``occupied_slots`` what the kernels placed on them hold now, read from the kernels as the
scheduler reads it, so that the figures shown are the ones it decides on. The JSON shape is
Backend.AI's (``agent_total_resource_slots_by_status``, added in its 24.03.7).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.slots import ResourceSlot
from backendai.common.statuses import AgentStatus
from backendai.manager.db.models import Agent
from backendai.manager.scheduler.snapshot import occupancy


@dataclass
class GroupCapacity:
    """The agents of one resource group in one status, summed."""

    agent_count: int = 0
    available: ResourceSlot = field(default_factory=ResourceSlot)
    occupied: ResourceSlot = field(default_factory=ResourceSlot)

    def to_json(self) -> dict[str, Any]:
        return {
            "available_slots": self.available.to_json(),
            "occupied_slots": self.occupied.to_json(),
        }


# resource group name -> agent status -> its agents summed
Capacities = dict[str, dict[AgentStatus, GroupCapacity]]


def parse_status(value: str) -> AgentStatus:
    """An agent status as a query names it (any case); ValueError names the known ones."""
    try:
        return AgentStatus(value.upper())
    except ValueError:
        known = ", ".join(s.value for s in AgentStatus)
        raise ValueError(f"Unknown agent status {value!r}; known: {known}.") from None


async def capacities(db: AsyncSession, names: Iterable[str]) -> Capacities:
    """The capacity of each named resource group, for every agent status (two queries)."""
    wanted = list(names)
    result: Capacities = {name: {} for name in wanted}
    if not wanted:
        return result
    agents = list(await db.scalars(sa.select(Agent).where(Agent.scaling_group.in_(wanted))))
    used = await occupancy(db, [a.id for a in agents])
    for agent in agents:
        group = result[agent.scaling_group].setdefault(agent.status, GroupCapacity())
        group.agent_count += 1
        group.available = group.available + ResourceSlot.from_json(agent.available_slots)
        group.occupied = group.occupied + used[agent.id]
    return result
