"""Scheduling decisions: a pure function from a snapshot to a plan, testable without a database.

``schedule`` goes through each resource group's pending sessions in its policy's order
(``policies``: fifo, lifo, drf; priority first), checks the admission predicates
(``predicates``), and places each admitted session on an agent of its group (``selectors``:
dispersed or concentrated, GPU agents kept for GPU sessions). A session that cannot start now
is skipped, never blocking those behind it (no head-of-line blocking), and keeps a reason, its
position in its group's queue and, when derivable, an estimated start.

Starvation: skipping alone would let a stream of small sessions keep a big one waiting
forever. A session that has waited longer than the group's ``reserve_after`` seconds
(``scheduler_opts``, default 300; counted from its ``starts_at`` when it has one) is considered
before the policy's order; when no agent fits it, it reserves the agent closest to fitting it
(at most ``max_reservations`` per group per pass, default 1). A reserved agent takes no other
session, so it drains as its sessions end, and the big session starts there. Passes keep no
state: the same session reserves the same agent again in the next pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from backendai.common.slots import ResourceSlot, format_amount
from backendai.manager.scheduler.policies import load_policy
from backendai.manager.scheduler.predicates import Blocked, Usage, admit, over_policy
from backendai.manager.scheduler.selectors import AgentPool
from backendai.manager.scheduler.snapshot import GroupConfig, PendingSession, Snapshot

RESERVE_AFTER_S = 300.0
MAX_RESERVATIONS = 1

__all__ = ["Assignment", "Plan", "Waiting", "fifo_first_fit", "over_policy", "schedule"]


@dataclass(frozen=True)
class Assignment:
    session_id: uuid.UUID
    agent_id: str
    slots: ResourceSlot


@dataclass(frozen=True)
class Waiting:
    reason: str
    position: int  # 1-based among the sessions still waiting in the same resource group
    predicate: str = ""
    estimated_start: datetime | None = None
    # The session as the snapshot saw it (its previous record), when known.
    session: PendingSession | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Plan:
    assignments: tuple[Assignment, ...] = ()
    waiting: Mapping[uuid.UUID, Waiting] = field(default_factory=dict)
    # Sessions that can never start (a dependency failed), with the reason.
    cancelled: Mapping[uuid.UUID, str] = field(default_factory=dict)

    @property
    def decisions(self) -> int:
        return len(self.assignments) + len(self.waiting) + len(self.cancelled)


class SchedulingPolicy(Protocol):
    def __call__(self, snapshot: Snapshot) -> Plan: ...


def shortage_reason(requested: ResourceSlot, free: Sequence[ResourceSlot]) -> str:
    """Why no agent in ``free`` fits ``requested``: "no agent has 4 free cpu (largest free: 2)"."""
    parts = []
    for slot, amount in requested.nonzero().items():
        largest = max((f.get_amount(slot) for f in free), default=Decimal(0))
        if amount > largest:
            parts.append(
                f"no agent has {format_amount(slot, amount)} free {slot} "
                f"(largest free: {format_amount(slot, max(largest, Decimal(0)))})"
            )
    if parts:
        return "; ".join(parts)
    return f"no single agent has {requested.nonzero().describe()} free at once"


def _dominates(needs: Mapping[str, Decimal], failed: Mapping[str, Decimal]) -> bool:
    """Whether ``needs`` asks for at least ``failed`` of every slot ``failed`` asks for."""
    return all(needs.get(n, Decimal(0)) >= v for n, v in failed.items())


@dataclass
class _GroupPass:
    """One resource group's part of a pass."""

    snapshot: Snapshot
    pool: AgentPool
    usage: Usage
    config: GroupConfig
    assignments: list[Assignment] = field(default_factory=list)
    cancelled: dict[uuid.UUID, str] = field(default_factory=dict)
    left: list[tuple[PendingSession, Blocked | None]] = field(default_factory=list)
    # Needs that found no agent this pass, per (group, image): free only shrinks within a
    # pass, so a session needing at least as much of each slot finds none either.
    failed: dict[tuple[object, ...], list[dict[str, Decimal]]] = field(default_factory=dict)
    reservations: int = 0

    def starving(self, s: PendingSession) -> bool:
        after = timedelta(seconds=float(self.config.opts.get("reserve_after", RESERVE_AFTER_S)))
        since = max(s.created_at, s.starts_at or s.created_at)
        return self.snapshot.now - since >= after

    def consider(self, s: PendingSession) -> None:
        blocked = admit(s, self.snapshot, self.usage)
        if blocked is not None:
            if blocked.cancel:
                self.cancelled[s.id] = blocked.reason
            else:
                self.left.append((s, blocked))
            return
        reserved = self.pool.reserved_for(s) is not None
        known = self.failed.setdefault(s.shape[:2], [])
        hopeless = not reserved and any(_dominates(s.needs, f) for f in known)
        agent = None if hopeless else self.pool.pick(s)
        if agent is not None:
            self.assignments.append(Assignment(s.id, agent.id, s.requested))
            self.pool.take(agent.id, s.requested)
            self.pool.reserved.pop(agent.id, None)
            self.usage.add(s)
            return
        if not reserved and not hopeless:
            known.append(s.needs)
        limit = int(self.config.opts.get("max_reservations", MAX_RESERVATIONS))
        can_reserve = not reserved and self.reservations < limit and self.starving(s)
        if can_reserve and self.pool.reserve(s) is not None:
            self.reservations += 1
        self.left.append((s, None))


def schedule(snapshot: Snapshot) -> Plan:
    """Decide, for every pending session of ``snapshot``, to place it, keep it waiting (and
    why) or cancel it."""
    selection = {g: str(c.opts.get("agent_selection", "dispersed"))
                 for g, c in snapshot.groups.items()}  # fmt: skip
    pool = AgentPool(snapshot.agents, selection)
    usage = Usage.of(snapshot)
    by_group: dict[str | None, list[PendingSession]] = {}
    for s in snapshot.pending:
        by_group.setdefault(s.scaling_group, []).append(s)
    assignments: list[Assignment] = []
    cancelled: dict[uuid.UUID, str] = {}
    waiting: dict[uuid.UUID, Waiting] = {}
    reasons: dict[tuple[object, ...], tuple[str, str, datetime | None]] = {}
    for group in sorted(by_group, key=lambda g: (g is None, g or "")):
        sessions = by_group[group]
        config = snapshot.groups.get(group or "") or GroupConfig()
        gp = _GroupPass(snapshot, pool, usage, config)
        starving = [s for s in sessions if gp.starving(s)]
        for s in sorted(starving, key=lambda s: (-s.priority, s.created_at, s.id)):
            gp.consider(s)
        rest = [s for s in sessions if not gp.starving(s)]
        capacity = ResourceSlot()
        for a in pool.in_group(group):
            capacity = capacity + a.capacity
        for s in load_policy(config.scheduler).order(rest, capacity, usage.keypair_used):
            gp.consider(s)
        assignments += gp.assignments
        cancelled |= gp.cancelled
        for position, (s, blocked) in enumerate(gp.left, start=1):
            if blocked is not None:
                # Against what the keypairs and scopes hold after the pass.
                blocked = admit(s, snapshot, usage) or blocked
                waiting[s.id] = Waiting(blocked.reason, position, blocked.predicate,
                                        blocked.estimated_start, s)  # fmt: skip
                continue
            # Against what is free after the pass (cached per shape: free only shrinks).
            own = pool.reserved_for(s)
            key = s.shape if own is None else (s.id,)
            if key not in reasons:
                predicate, reason = pool.shortage(s)
                if own is not None:
                    reason += f"; agent {own} is reserved for it and takes no other session"
                reasons[key] = (predicate, reason, pool.estimate(s, snapshot.now))
            predicate, reason, estimate = reasons[key]
            waiting[s.id] = Waiting(reason, position, predicate, estimate, s)
    return Plan(tuple(assignments), waiting, cancelled)


# The dispatcher's default policy: ``schedule`` (each group's own order; fifo by default).
fifo_first_fit: SchedulingPolicy = schedule
