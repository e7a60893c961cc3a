"""What a scheduling pass decides over: pending sessions, the agents' capacity and use, the
limits that admit sessions, and when running sessions are expected to end.

Read without locks; it may be stale by the time the plan is applied, which is why the applier
checks every allocation and every limit again inside its transaction, under lock.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.slots import ResourceSlot
from backendai.common.statuses import (
    AgentStatus,
    DefaultForUnspecified,
    SessionResult,
    SessionStatus,
    SessionType,
)
from backendai.manager.db.models import (
    Agent,
    Domain,
    Group,
    Kernel,
    KeyPair,
    KeyPairResourcePolicy,
    ScalingGroup,
    Session,
    SessionDependency,
)
from backendai.manager.lifecycle import OCCUPYING_STATUSES
from backendai.manager.scheduler.devices import AgentDevices, load_agent_devices

# A scope that may have a total of resource slots: ("group", "<uuid>") or ("domain", "<name>").
Scope = tuple[str, str]


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
    # The keypair policy's total slots, for each slot it limits (see ``limit_for``).
    keypair_limit: ResourceSlot | None = None
    # The keypair policy's max_concurrent_sessions (None or 0: unlimited).
    max_concurrent: int | None = None
    # The group and domain whose totals (``Snapshot.totals``) this session counts against.
    scopes: tuple[Scope, ...] = ()
    # Sessions that must end successfully before this one starts.
    dependencies: tuple[uuid.UUID, ...] = ()
    group_id: uuid.UUID | None = None
    # Its status_data as the snapshot read it: the applier writes a waiting record only when
    # it changed (None: unknown, the applier reads it again).
    status_data: Mapping[str, Any] | None = field(default=None, compare=False)
    # The slots it asks a nonzero amount of (a plain dict: the pass's hot path), and its
    # shape: sessions of one shape fit, or do not fit, the same agents.
    needs: dict[str, Decimal] = field(init=False, repr=False, compare=False)
    shape: tuple[object, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        needs = {n: v for n, v in self.requested.items() if v}
        object.__setattr__(self, "needs", needs)
        shape = (self.scaling_group, self.image, tuple(sorted(needs.items())))
        object.__setattr__(self, "shape", shape)


@dataclass(frozen=True)
class AgentState:
    id: str
    scaling_group: str
    capacity: ResourceSlot
    occupied: ResourceSlot
    images: frozenset[str]
    # When the sessions on this agent are expected to end (max lifetime or idle timeout) and
    # what each frees then, earliest first.
    releases: tuple[tuple[datetime, ResourceSlot], ...] = ()
    # Its devices (GPUs) and what is free on each: a fraction must fit on one (devices.py).
    devices: tuple[AgentDevices, ...] = ()

    @property
    def free(self) -> ResourceSlot:
        return self.capacity - self.occupied


@dataclass(frozen=True)
class Dependency:
    name: str
    status: SessionStatus
    result: SessionResult = SessionResult.UNDEFINED


@dataclass(frozen=True)
class GroupConfig:
    """A resource group's scheduling settings (``ScalingGroup.scheduler``/``scheduler_opts``)."""

    scheduler: str = "fifo"
    opts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    now: datetime
    pending: tuple[PendingSession, ...]
    agents: tuple[AgentState, ...]
    # What each pending session's keypair holds now (sessions placed and not yet ended).
    keypair_used: dict[str, ResourceSlot] = field(default_factory=dict)
    # How many sessions each keypair has placed and not yet ended.
    keypair_running: dict[str, int] = field(default_factory=dict)
    # When each keypair's placed sessions are expected to end, earliest first.
    keypair_releases: dict[str, tuple[datetime, ...]] = field(default_factory=dict)
    # Group and domain total_resource_slots (only scopes with a limit), and their use.
    totals: dict[Scope, ResourceSlot] = field(default_factory=dict)
    scope_used: dict[Scope, ResourceSlot] = field(default_factory=dict)
    dependencies: dict[uuid.UUID, Dependency] = field(default_factory=dict)
    groups: dict[str, GroupConfig] = field(default_factory=dict)


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


def expected_end(
    now: datetime,
    created_at: datetime,
    session_type: SessionType,
    last_activity: datetime | None,
    changed: datetime,
    lifetime: int,
    idle_timeout: int,
) -> datetime | None:
    """When a placed session will be ended at the latest (its policy's max lifetime, or for an
    interactive session its idle timeout if nobody uses it); None when neither applies."""
    ends = []
    if lifetime > 0:
        ends.append(created_at + timedelta(seconds=lifetime))
    if idle_timeout > 0 and session_type is SessionType.INTERACTIVE:
        ends.append((last_activity or changed) + timedelta(seconds=idle_timeout))
    return max(min(ends), now) if ends else None


@dataclass
class _Policy:
    slots: dict[str, str]
    default: DefaultForUnspecified
    max_concurrent: int


async def _policies(db: AsyncSession) -> dict[str, _Policy]:
    """Each keypair's policy limits, for the keypairs of pending sessions."""
    rows = await db.execute(
        sa.select(
            KeyPair.access_key,
            KeyPairResourcePolicy.total_resource_slots,
            KeyPairResourcePolicy.default_for_unspecified,
            KeyPairResourcePolicy.max_concurrent_sessions,
        )
        .join(KeyPairResourcePolicy, KeyPairResourcePolicy.name == KeyPair.resource_policy)
        .where(
            KeyPair.access_key.in_(
                sa.select(Session.access_key)
                .where(Session.status == SessionStatus.PENDING)
                .distinct()
            )
        )
    )
    return {key: _Policy(slots, default, conc) for key, slots, default, conc in rows}


async def scope_totals(
    db: AsyncSession, group_ids: Iterable[uuid.UUID], domains: Iterable[str]
) -> dict[Scope, ResourceSlot]:
    """The groups' and domains' total_resource_slots, for those that have one."""
    totals: dict[Scope, ResourceSlot] = {}
    gids, names = list(set(group_ids)), list(set(domains))
    if gids:
        for gid, slots in await db.execute(
            sa.select(Group.id, Group.total_resource_slots).where(Group.id.in_(gids))
        ):
            if ResourceSlot.from_json(slots).nonzero():
                totals[("group", str(gid))] = ResourceSlot.from_json(slots)
    if names:
        for name, slots in await db.execute(
            sa.select(Domain.name, Domain.total_resource_slots).where(Domain.name.in_(names))
        ):
            if ResourceSlot.from_json(slots).nonzero():
                totals[("domain", name)] = ResourceSlot.from_json(slots)
    return totals


async def _dependencies(
    db: AsyncSession,
) -> tuple[dict[uuid.UUID, list[uuid.UUID]], dict[uuid.UUID, Dependency]]:
    rows = await db.execute(
        sa.select(
            SessionDependency.session_id,
            SessionDependency.depends_on,
            Session.name,
            Session.status,
            Session.result,
        )
        .join(Session, Session.id == SessionDependency.depends_on)
        .where(
            SessionDependency.session_id.in_(
                sa.select(Session.id).where(Session.status == SessionStatus.PENDING)
            )
        )
    )
    deps: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    states: dict[uuid.UUID, Dependency] = {}
    for sid, dep, name, status, result in rows:
        deps[sid].append(dep)
        states[dep] = Dependency(name, status, result)
    return deps, states


async def load_snapshot(db: AsyncSession, now: datetime) -> Snapshot:
    policies = await _policies(db)
    deps, dep_states = await _dependencies(db)
    rows = (
        await db.execute(
            sa.select(
                Session.id,
                Session.name,
                Session.access_key,
                Session.image,
                Session.requested_slots,
                Session.scaling_group_name,
                Session.created_at,
                Session.priority,
                Session.starts_at,
                Session.status_info,
                Session.group_id,
                Session.domain_name,
                Session.status_data,
            )
            .where(Session.status == SessionStatus.PENDING)
            .order_by(Session.priority.desc(), Session.created_at, Session.id)
        )
    ).all()
    totals = await scope_totals(db, (r.group_id for r in rows), (r.domain_name for r in rows))
    pending = []
    # Sessions repeat a few shapes: parse each shape, and each keypair's limit for it, once.
    parsed: dict[tuple[tuple[str, str], ...], ResourceSlot] = {}
    limits: dict[tuple[str, tuple[tuple[str, str], ...]], ResourceSlot | None] = {}
    for r in rows:
        policy = policies.get(r.access_key)
        scopes = tuple(
            s for s in (("group", str(r.group_id)), ("domain", r.domain_name)) if s in totals
        )
        shape = tuple(sorted(r.requested_slots.items()))
        if shape not in parsed:
            parsed[shape] = ResourceSlot.from_json(r.requested_slots)
        if (r.access_key, shape) not in limits:
            limits[(r.access_key, shape)] = limit_for(
                (policy.slots, policy.default) if policy else None, r.requested_slots
            )
        pending.append(
            PendingSession(
                id=r.id,
                name=r.name,
                access_key=r.access_key,
                image=r.image,
                requested=parsed[shape],
                scaling_group=r.scaling_group_name,
                created_at=r.created_at,
                priority=r.priority,
                starts_at=r.starts_at,
                status_info=r.status_info,
                group_id=r.group_id,
                status_data=r.status_data or {},
                keypair_limit=limits[(r.access_key, shape)],
                max_concurrent=policy.max_concurrent if policy else None,
                scopes=scopes,
                dependencies=tuple(deps.get(r.id, ())),
            )
        )
    agents = await alive_agents(db)
    devices = await load_agent_devices(db, agents)
    placed = await _placed(db, now, {s.access_key for s in pending}, set(totals))
    states = tuple(
        AgentState(
            id=a.id,
            scaling_group=a.scaling_group,
            capacity=ResourceSlot.from_json(a.available_slots),
            occupied=placed.agent_used.get(a.id, ResourceSlot()),
            images=frozenset(a.images),
            releases=tuple(sorted(placed.agent_releases.get(a.id, []), key=lambda x: x[0])),
            devices=devices.get(a.id, ()),
        )
        for a in agents
    )
    groups = {
        name: GroupConfig(scheduler or "fifo", opts or {})
        for name, scheduler, opts in await db.execute(
            sa.select(ScalingGroup.name, ScalingGroup.scheduler, ScalingGroup.scheduler_opts)
        )
    }
    return Snapshot(
        now=now, pending=tuple(pending), agents=states, keypair_used=placed.keypair_used,
        keypair_running=placed.keypair_running,
        keypair_releases={k: tuple(sorted(v)) for k, v in placed.keypair_releases.items()},
        totals=totals, scope_used=placed.scope_used, dependencies=dep_states, groups=groups,
    )  # fmt: skip


@dataclass
class _Placed:
    agent_used: dict[str, ResourceSlot] = field(default_factory=dict)
    agent_releases: dict[str, list[tuple[datetime, ResourceSlot]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    keypair_used: dict[str, ResourceSlot] = field(default_factory=dict)
    keypair_running: dict[str, int] = field(default_factory=dict)
    keypair_releases: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    scope_used: dict[Scope, ResourceSlot] = field(default_factory=dict)


async def _placed(
    db: AsyncSession, now: datetime, access_keys: set[str], scopes: set[Scope]
) -> _Placed:
    """One read of every placed session (and its kernels): what agents, keypairs and limited
    scopes hold, and when each session is expected to end."""
    out = _Placed()
    rows = await db.execute(
        sa.select(
            Session.id,
            Session.access_key,
            Session.group_id,
            Session.domain_name,
            Session.occupying_slots,
            Session.session_type,
            Session.created_at,
            Session.last_activity,
            Session.status_changed,
            Kernel.agent,
            Kernel.occupied_slots,
            KeyPairResourcePolicy.max_session_lifetime,
            KeyPairResourcePolicy.idle_timeout,
        )
        .join(Kernel, Kernel.session_id == Session.id)
        .join(KeyPair, KeyPair.access_key == Session.access_key)
        .outerjoin(KeyPairResourcePolicy, KeyPairResourcePolicy.name == KeyPair.resource_policy)
        .where(Session.status.in_(OCCUPYING_STATUSES), Kernel.status.in_(OCCUPYING_STATUSES))
    )
    seen: set[uuid.UUID] = set()
    # Summed as plain dicts (thousands of rows), made ResourceSlots once at the end.
    agent_used: dict[str, dict[str, Decimal]] = defaultdict(dict)
    keypair_used: dict[str, dict[str, Decimal]] = defaultdict(dict)
    scope_used: dict[Scope, dict[str, Decimal]] = defaultdict(dict)
    parsed: dict[tuple[tuple[str, str], ...], ResourceSlot] = {}

    def slots_of(raw: dict[str, str]) -> ResourceSlot:
        key = tuple(raw.items())
        if key not in parsed:
            parsed[key] = ResourceSlot.from_json(raw)
        return parsed[key]

    def add(into: dict[str, Decimal], slots: ResourceSlot) -> None:
        for name, amount in slots.items():
            into[name] = into.get(name, Decimal(0)) + amount

    for r in rows:
        lifetime, idle = r.max_session_lifetime or 0, r.idle_timeout or 0
        end = expected_end(
            now, r.created_at, r.session_type, r.last_activity, r.status_changed, lifetime, idle
        )
        if r.agent is not None:
            slots = slots_of(r.occupied_slots)
            add(agent_used[r.agent], slots)
            if end is not None:
                out.agent_releases[r.agent].append((end, slots))
        if r.id in seen:
            continue
        seen.add(r.id)
        held = slots_of(r.occupying_slots)
        if r.access_key in access_keys:
            key = r.access_key
            add(keypair_used[key], held)
            out.keypair_running[key] = out.keypair_running.get(key, 0) + 1
            if end is not None:
                out.keypair_releases[key].append(end)
        for scope in (("group", str(r.group_id)), ("domain", r.domain_name)):
            if scope in scopes:
                add(scope_used[scope], held)
    out.agent_used = {a: ResourceSlot(v) for a, v in agent_used.items()}
    out.keypair_used = {k: ResourceSlot(v) for k, v in keypair_used.items()}
    out.scope_used = {sc: ResourceSlot(v) for sc, v in scope_used.items()}
    for key in access_keys:
        out.keypair_used.setdefault(key, ResourceSlot())
    return out
