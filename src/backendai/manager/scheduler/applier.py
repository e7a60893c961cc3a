"""Committing a plan: the only writer of allocations.

One transaction per pass. Before it checks anything, it locks, always in this global order so
that concurrent passes (and several managers) cannot deadlock:

    domains -> groups -> keypairs -> agents -> sessions

each set by key, in one statement per table (PostgreSQL: ``SELECT ... ORDER BY key FOR NO KEY
UPDATE``; the sessions with ``SKIP LOCKED``, so one being cancelled right now is simply left for
the next pass; SQLite: the first lock takes the database's single write lock). Under the locks it
re-reads every agent's occupancy, every keypair's placed sessions and policy, and the groups'
and domains' use, and re-checks each assignment in the plan's order: an agent's free slots,
the keypair's concurrency and total slots, the group's and domain's total slots. What no longer
holds stays PENDING for the next pass. No agent is ever over-allocated and no keypair, group
or domain ever goes past its limits, whatever runs concurrently.

The writes are batched (one executemany per table), the bulk form of ``lifecycle.transition``
for PENDING -> SCHEDULED: status, history rows and ``session_scheduled`` events. Waiting
sessions get their record (``status_data["scheduler"]``, see ``common.pending``) only when it
changed, and a ``session_pending`` event when their reason changed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from backendai.common.pending import PendingReason
from backendai.common.slots import ResourceSlot
from backendai.common.statuses import AgentStatus, SessionStatus
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import (
    Agent,
    Base,
    Domain,
    Group,
    KeyPair,
    KeyPairResourcePolicy,
    Session,
)
from backendai.manager.events import EventName, SessionEvent, queue_event
from backendai.manager.lifecycle import OCCUPYING_STATUSES, check_transition, load_for_update
from backendai.manager.lifecycle import transition as lifecycle_transition
from backendai.manager.scheduler.devices import DeviceLedger, load_agent_devices
from backendai.manager.scheduler.policy import Assignment, Plan, Waiting
from backendai.manager.scheduler.snapshot import Scope, limit_for, occupancy, scope_totals

_SESSIONS: sa.Table = Base.metadata.tables["sessions"]
_KERNELS: sa.Table = Base.metadata.tables["kernels"]
_HISTORY: sa.Table = Base.metadata.tables["session_status_history"]
_CHUNK = 2000  # keys per IN (...) list: both drivers cap the parameters of one statement


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def lock_rows(
    db: AsyncSession, key_column: InstrumentedAttribute[Any], keys: Iterable[Any]
) -> None:
    """Lock the rows whose ``key_column`` is one of ``keys``, in key order.

    PostgreSQL: ``FOR NO KEY UPDATE``, which excludes other passes (and every writer of those
    rows) but not the ``FOR KEY SHARE`` lock that inserting a row referencing them takes: a
    create holding its keypair's lock and inserting a session of that domain and group never
    waits for a pass that holds the domain and waits for the keypair."""
    ordered = sorted(set(keys), key=str)
    if not ordered:
        return
    table = key_column.class_
    if (await db.connection()).dialect.name == "sqlite":
        await db.execute(
            sa.update(table)
            .where(key_column.in_(ordered[:1]))
            .values({key_column.key: key_column})
            .execution_options(synchronize_session=False)
        )
        return
    for chunk in _chunks(ordered):
        await db.execute(
            sa.select(key_column).where(key_column.in_(chunk)).order_by(key_column)
            .with_for_update(key_share=True)
        )  # fmt: skip


async def bulk_update(
    db: AsyncSession,
    table: sa.Table,
    key: str,
    rows: Sequence[dict[str, Any]],
    *where: sa.ColumnElement[bool],
) -> None:
    """``UPDATE table SET ... WHERE table.key = row["b_id"]`` for each row, as one
    executemany (pipelined by asyncpg; faster there than ``UPDATE ... FROM (VALUES ...)``,
    whose large statements cost more to compile and prepare than they save)."""
    if not rows:
        return
    cols = [c for c in rows[0] if c != "b_id"]
    await db.execute(
        sa.update(table)
        .where(table.c[key] == sa.bindparam("b_id"), *where)
        .values({c: sa.bindparam(c, type_=table.c[c].type) for c in cols}),
        list(rows),
    )


@dataclass
class _Limits:
    """The limits and use of the keypairs, groups and domains of a plan, read under lock."""

    policy: dict[str, tuple[dict[str, str], Any, int]]
    running: dict[str, int]
    keypair_used: dict[str, ResourceSlot]
    totals: dict[Scope, ResourceSlot]
    scope_used: dict[Scope, ResourceSlot]
    limit_cache: dict[tuple[str, tuple[str, ...]], ResourceSlot | None] = field(
        default_factory=dict
    )


async def _limits(db: AsyncSession, rows: Sequence[Any]) -> _Limits:
    keys = sorted({r.access_key for r in rows})
    policy = {
        k: (slots, default, conc)
        for k, slots, default, conc in await db.execute(
            sa.select(
                KeyPair.access_key,
                KeyPairResourcePolicy.total_resource_slots,
                KeyPairResourcePolicy.default_for_unspecified,
                KeyPairResourcePolicy.max_concurrent_sessions,
            )
            .join(KeyPairResourcePolicy, KeyPairResourcePolicy.name == KeyPair.resource_policy)
            .where(KeyPair.access_key.in_(keys))
        )
    }
    totals = await scope_totals(db, (r.group_id for r in rows), (r.domain_name for r in rows))
    running: dict[str, int] = defaultdict(int)
    used: dict[str, ResourceSlot] = defaultdict(ResourceSlot)
    scope_used: dict[Scope, ResourceSlot] = defaultdict(ResourceSlot)
    conditions = [Session.access_key.in_(keys)]
    groups = [uuid.UUID(s[1]) for s in totals if s[0] == "group"]
    domains = [s[1] for s in totals if s[0] == "domain"]
    if groups:
        conditions.append(Session.group_id.in_(groups))
    if domains:
        conditions.append(Session.domain_name.in_(domains))
    placed = await db.execute(
        sa.select(Session.access_key, Session.group_id, Session.domain_name,
                  Session.occupying_slots)
        .where(Session.status.in_(OCCUPYING_STATUSES), sa.or_(*conditions))
    )  # fmt: skip
    for key, group_id, domain, slots in placed:
        held = ResourceSlot.from_json(slots)
        if key in policy:
            running[key] += 1
            used[key] = used[key] + held
        for scope in (("group", str(group_id)), ("domain", domain)):
            if scope in totals:
                scope_used[scope] = scope_used[scope] + held
    return _Limits(policy, running, used, totals, scope_used)


def _refused(s: Any, slots: ResourceSlot, lim: _Limits) -> bool:
    """Whether the limits (as they stand under lock) refuse one more session ``s``."""
    policy = lim.policy.get(s.access_key)
    if policy is not None:
        if policy[2] and policy[2] > 0 and lim.running[s.access_key] >= policy[2]:
            return True
        key = (s.access_key, tuple(sorted(s.requested_slots)))
        if key not in lim.limit_cache:
            lim.limit_cache[key] = limit_for((policy[0], policy[1]), s.requested_slots)
        limit = lim.limit_cache[key]
        if limit is not None and _over(slots, lim.keypair_used[s.access_key], limit):
            return True
    for scope in (("group", str(s.group_id)), ("domain", s.domain_name)):
        if scope in lim.totals and _over(slots, lim.scope_used[scope], lim.totals[scope]):
            return True
    return False


def _over(slots: ResourceSlot, held: ResourceSlot, limit: ResourceSlot) -> bool:
    return any(
        slots.get_amount(n) > 0 and held.get_amount(n) + slots.get_amount(n) > limit.get_amount(n)
        for n in limit
    )


async def _assign_all(db: AsyncSession, assignments: Sequence[Assignment]) -> list[uuid.UUID]:
    ids = [a.session_id for a in assignments]
    rows: dict[uuid.UUID, Any] = {}
    for chunk in _chunks(ids):
        for r in await db.execute(
            sa.select(Session.id, Session.access_key, Session.group_id, Session.domain_name,
                      Session.requested_slots, Session.name)
            .where(Session.id.in_(chunk), Session.status == SessionStatus.PENDING)
        ):  # fmt: skip
            rows[r.id] = r
    if not rows:
        return []
    # The global lock order: domains, groups, keypairs, agents, sessions.
    await lock_rows(db, Domain.name, (r.domain_name for r in rows.values()))
    await lock_rows(db, Group.id, (r.group_id for r in rows.values()))
    await lock_rows(db, KeyPair.access_key, (r.access_key for r in rows.values()))
    await lock_rows(db, Agent.id, (a.agent_id for a in assignments))
    locked: set[uuid.UUID] = set()
    for chunk in _chunks(list(rows)):
        locked.update(
            await db.scalars(
                sa.select(Session.id)
                .where(Session.id.in_(chunk), Session.status == SessionStatus.PENDING)
                .with_for_update(skip_locked=True, key_share=True)
            )
        )
    agent_ids = sorted({a.agent_id for a in assignments})
    agents = {
        a.id: a
        for a in await db.scalars(
            sa.select(Agent)
            .where(Agent.id.in_(agent_ids))
            .execution_options(populate_existing=True)
        )
    }
    free = {
        aid: ResourceSlot.from_json(agents[aid].available_slots) - used
        for aid, used in (await occupancy(db, agents)).items()
    }
    devices = DeviceLedger(await load_agent_devices(db, list(agents.values())))
    lim = await _limits(db, [rows[i] for i in locked])
    now = utcnow()
    check_transition(SessionStatus.PENDING, SessionStatus.SCHEDULED)
    done: list[tuple[Assignment, Any, Agent]] = []
    for a in assignments:
        row, agent = rows.get(a.session_id), agents.get(a.agent_id)
        if row is None or a.session_id not in locked or agent is None:
            continue
        if agent.status is not AgentStatus.ALIVE or not agent.schedulable:
            continue
        if not a.slots.fits_in(free[agent.id]) or _refused(row, a.slots, lim):
            continue
        if not devices.take(agent.id, a.slots):  # a fraction on one device (devices.py)
            continue
        free[agent.id] = free[agent.id] - a.slots
        lim.running[row.access_key] += 1
        lim.keypair_used[row.access_key] = lim.keypair_used[row.access_key] + a.slots
        for scope in (("group", str(row.group_id)), ("domain", row.domain_name)):
            if scope in lim.totals:
                lim.scope_used[scope] = lim.scope_used[scope] + a.slots
        done.append((a, row, agent))
    if done:
        await _write_scheduled(db, done, now)
        for aid in {agent.id for _, _, agent in done}:
            capacity = ResourceSlot.from_json(agents[aid].available_slots)
            agents[aid].occupied_slots = (capacity - free[aid]).to_json()
    return [a.session_id for a, _, _ in done]


async def _write_scheduled(
    db: AsyncSession, done: Sequence[tuple[Assignment, Any, Agent]], now: Any
) -> None:
    status = SessionStatus.SCHEDULED.value
    s_params, k_params = [], []
    for a, _, agent in done:
        data = {"scheduler": {"agent": agent.id}}
        slots = a.slots.to_json()
        s_params.append({"b_id": a.session_id, "status": status, "status_info": "",
                         "status_data": data, "status_changed": now, "occupying_slots": slots,
                         "scaling_group_name": agent.scaling_group})  # fmt: skip
        k_params.append({"b_id": a.session_id, "agent": agent.id, "agent_addr": agent.addr,
                         "occupied_slots": slots, "architecture": agent.architecture,
                         "status": status, "status_info": "", "status_data": data,
                         "status_changed": now})  # fmt: skip
    await bulk_update(db, _SESSIONS, "id", s_params)
    await bulk_update(db, _KERNELS, "session_id", k_params)
    await db.execute(
        sa.insert(_HISTORY),
        [{"session_id": a.session_id, "status": status, "reason": "scheduled",
          "changed_at": now} for a, _, _ in done],
    )  # fmt: skip
    for a, r, _ in done:
        queue_event(db, SessionEvent(EventName.SESSION_SCHEDULED, a.session_id, r.name,
                                     r.access_key, r.group_id, "scheduled"))  # fmt: skip


async def _cancel(db: AsyncSession, cancelled: dict[uuid.UUID, str]) -> None:
    for session_id, reason in sorted(cancelled.items(), key=lambda x: str(x[0])):
        s = await load_for_update(db, session_id)
        if s is None or s.status is not SessionStatus.PENDING:
            continue
        await lifecycle_transition(db, s, SessionStatus.CANCELLED, reason="dependency-failed",
                                   info=reason)  # fmt: skip


def waiting_record(w: Waiting) -> dict[str, Any]:
    """The ``status_data`` of a session that stays PENDING."""
    record = PendingReason(w.reason[:256], w.predicate, w.position, w.estimated_start)
    return {"scheduler": record.to_json()}


async def _record_waiting(db: AsyncSession, waiting: dict[uuid.UUID, Waiting]) -> None:
    changed: list[dict[str, Any]] = []
    unknown = []
    for sid, w in waiting.items():
        s = w.session
        if s is None or s.status_data is None or s.group_id is None:
            unknown.append(sid)
            continue
        data = waiting_record(w)
        if s.status_info == w.reason[:256] and s.status_data == data:
            continue
        changed.append({"b_id": sid, "status_info": w.reason[:256], "status_data": data})
        if s.status_info != w.reason[:256]:
            queue_event(db, SessionEvent(EventName.SESSION_PENDING, sid, s.name, s.access_key,
                                         s.group_id, w.reason))  # fmt: skip
    for chunk in _chunks(unknown):
        rows = await db.execute(
            sa.select(Session.id, Session.name, Session.access_key, Session.group_id,
                      Session.status_info, Session.status_data)
            .where(Session.id.in_(chunk), Session.status == SessionStatus.PENDING)
        )  # fmt: skip
        for r in rows:
            w = waiting[r.id]
            data = waiting_record(w)
            if r.status_info == w.reason[:256] and r.status_data == data:
                continue
            changed.append({"b_id": r.id, "status_info": w.reason[:256], "status_data": data})
            if r.status_info != w.reason[:256]:
                queue_event(db, SessionEvent(EventName.SESSION_PENDING, r.id, r.name,
                                             r.access_key, r.group_id, w.reason))  # fmt: skip
    pending = _SESSIONS.c.status == SessionStatus.PENDING.value
    await bulk_update(db, _SESSIONS, "id", changed, pending)


async def apply_plan(db_factory: async_sessionmaker[AsyncSession], plan: Plan) -> list[uuid.UUID]:
    """Commit ``plan``; returns the sessions that were scheduled."""
    async with db_factory() as db, db.begin():
        scheduled = await _assign_all(db, plan.assignments) if plan.assignments else []
        if plan.cancelled:
            await _cancel(db, dict(plan.cancelled))
        if plan.waiting:
            await _record_waiting(db, dict(plan.waiting))
    return scheduled
