"""GraphQL agents: ``agent``, ``agent_list`` and ``agents`` (``admin agent(s)``), with what
each agent offers, what its kernels occupy now, its status and its images."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
import strawberry
from strawberry.types import Info

from backendai.common.errors import InvalidRequest, NotFound
from backendai.common.statuses import AgentStatus, SessionStatus
from backendai.manager.authz import Action, Resource
from backendai.manager.db.models import Agent, Kernel
from backendai.manager.gql.context import MAX_PAGE, GQLContext, page
from backendai.manager.gql.list_filters import filtered
from backendai.manager.gql.scalars import BigInt, JSONString
from backendai.manager.lifecycle import OCCUPYING_STATUSES
from backendai.manager.scheduler.snapshot import occupancy


@strawberry.type
class AgentNode:
    id: str
    status: str
    status_changed: datetime | None
    region: str
    scaling_group: str
    schedulable: bool
    available_slots: JSONString
    occupied_slots: JSONString
    addr: str
    architecture: str
    first_contact: datetime
    lost_at: datetime | None
    last_heartbeat: datetime | None
    version: str
    compute_plugins: JSONString
    images: list[str]
    hardware_metadata: JSONString
    live_stat: JSONString | None
    cpu_cur_pct: float | None
    mem_cur_bytes: BigInt | None
    compute_containers: int


@dataclass
class _Use:
    """What an agent's running kernels use now, summed from their latest heartbeat counters."""

    cpu_pct: Decimal = Decimal(0)
    mem_bytes: int = 0
    sampled: bool = False

    def add(self, stat: dict[str, Any] | None) -> None:
        if not stat:
            return
        with contextlib.suppress(InvalidOperation, TypeError, ValueError, AttributeError):
            self.cpu_pct += Decimal(str((stat.get("cpu_util") or {}).get("current") or 0))
            self.mem_bytes += int(Decimal(str((stat.get("mem") or {}).get("current") or 0)))
            self.sampled = True

    def live_stat(self) -> JSONString | None:
        if not self.sampled:
            return None
        cpu = {"current": str(self.cpu_pct), "capacity": None, "unit_hint": "percent"}
        mem = {"current": str(self.mem_bytes), "capacity": None, "unit_hint": "bytes"}
        return JSONString({"cpu_util": cpu, "mem": mem})


def _node(a: Agent, occupied: dict[str, str], containers: int, use: _Use) -> AgentNode:
    return AgentNode(
        id=a.id, status=a.status.value, status_changed=a.status_changed, region=a.region,
        scaling_group=a.scaling_group, schedulable=a.schedulable,
        available_slots=JSONString(dict(a.available_slots)), occupied_slots=JSONString(occupied),
        addr=a.addr, architecture=a.architecture, first_contact=a.first_contact,
        lost_at=a.lost_at, last_heartbeat=a.last_heartbeat, version=a.version,
        compute_plugins=JSONString(dict(a.compute_plugins)), images=sorted(a.images),
        hardware_metadata=JSONString({}), live_stat=use.live_stat(),
        cpu_cur_pct=float(use.cpu_pct) if use.sampled else None,
        mem_cur_bytes=BigInt(use.mem_bytes) if use.sampled else None, compute_containers=containers,
    )  # fmt: skip


async def _nodes(ctx: GQLContext, agents: list[Agent]) -> list[AgentNode]:
    """Occupancy as the agents' live kernels hold it now (not the stored column, which only
    ``recalculate-usage`` and the scheduler write)."""
    used = await occupancy(ctx.db, [a.id for a in agents])
    rows = await ctx.db.execute(
        sa.select(Kernel.agent, sa.func.count())
        .where(Kernel.agent.in_([a.id for a in agents]), Kernel.status.in_(OCCUPYING_STATUSES))
        .group_by(Kernel.agent)
    )
    counts: dict[str | None, int] = {agent_id: n for agent_id, n in rows}
    uses: dict[str | None, _Use] = defaultdict(_Use)
    stats = await ctx.db.execute(
        sa.select(Kernel.agent, Kernel.last_stat).where(
            Kernel.agent.in_([a.id for a in agents]), Kernel.status == SessionStatus.RUNNING
        )
    )
    for agent_id, stat in stats:
        uses[agent_id].add(stat)
    return [_node(a, used[a.id].to_json(), int(counts.get(a.id, 0)), uses[a.id]) for a in agents]


def _status(status: str | None) -> AgentStatus | None:
    if status is None:
        return None
    try:
        return AgentStatus(status.upper())
    except ValueError as e:
        known = ", ".join(s.value for s in AgentStatus)
        raise InvalidRequest(f"Unknown agent status {status!r}; known: {known}.") from e


def _query(ctx: GQLContext, status: str | None, scaling_group: str | None) -> sa.Select[Any]:
    ctx.visible(Resource.AGENT, Action.LIST)  # refuses a role that may not list agents
    q = sa.select(Agent)
    wanted = _status(status)
    if wanted is not None:
        q = q.where(Agent.status == wanted)
    if scaling_group is not None:
        q = q.where(Agent.scaling_group == scaling_group)
    return q


@strawberry.type
class AgentList:
    items: list[AgentNode]
    total_count: int


async def resolve_agent(info: Info[GQLContext, None], agent_id: str) -> AgentNode | None:
    ctx = info.context
    ctx.visible(Resource.AGENT, Action.READ)
    agent = await ctx.db.get(Agent, agent_id)
    if agent is None:
        raise NotFound(f"No agent with the id {agent_id!r}.")
    return (await _nodes(ctx, [agent]))[0]


# What ``filter`` and ``order`` may name.
AGENT_FIELDS = {
    "id": Agent.id,
    "status": Agent.status,
    "status_changed": Agent.status_changed,
    "region": Agent.region,
    "scaling_group": Agent.scaling_group,
    "schedulable": Agent.schedulable,
    "addr": Agent.addr,
    "first_contact": Agent.first_contact,
    "lost_at": Agent.lost_at,
    "version": Agent.version,
    "architecture": Agent.architecture,
}


async def resolve_agent_list(
    info: Info[GQLContext, None],
    limit: int,
    offset: int,
    status: str | None = None,
    scaling_group: str | None = None,
    filter: str | None = None,
    order: str | None = None,
) -> AgentList:
    ctx = info.context
    limit, offset = page(limit, offset)
    q, ordered = filtered(
        _query(ctx, status, scaling_group), AGENT_FIELDS, filter, order, (Agent.id,)
    )
    total = await ctx.db.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    rows = list(await ctx.db.scalars(ordered.limit(limit).offset(offset)))
    return AgentList(items=await _nodes(ctx, list(ctx.charge(rows))), total_count=total or 0)


async def resolve_agents(
    info: Info[GQLContext, None], status: str | None = None, scaling_group: str | None = None
) -> list[AgentNode]:
    return (await resolve_agent_list(info, MAX_PAGE, 0, status, scaling_group)).items


@strawberry.type
class AgentQuery:
    agent: AgentNode | None = strawberry.field(resolver=resolve_agent)
    agent_list: AgentList = strawberry.field(resolver=resolve_agent_list)
    agents: list[AgentNode] = strawberry.field(resolver=resolve_agents)
