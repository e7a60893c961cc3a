"""Scheduling decisions: pure functions from a snapshot to a plan, testable without a database.

``fifo_first_fit`` takes pending sessions oldest first (higher priority before) and places each
on the first agent, by id, that has the image and enough free slots. A session that cannot be
placed is not skipped for good: later sessions that fit still start (no head-of-line blocking).
Every session left waiting gets a reason a person can read and its position in the queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from backendai.common.slots import ResourceSlot, format_amount
from backendai.manager.scheduler.snapshot import AgentState, PendingSession, Snapshot


@dataclass(frozen=True)
class Assignment:
    session_id: uuid.UUID
    agent_id: str
    slots: ResourceSlot


@dataclass(frozen=True)
class Waiting:
    reason: str
    position: int  # 1-based among the sessions still waiting


@dataclass(frozen=True)
class Plan:
    assignments: tuple[Assignment, ...] = ()
    waiting: Mapping[uuid.UUID, Waiting] = field(default_factory=dict)


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


def _place(
    s: PendingSession, agents: Sequence[AgentState], free: dict[str, ResourceSlot]
) -> str | AgentState:
    """The agent to run ``s`` on, or why there is none."""
    in_group = [a for a in agents if s.scaling_group in (None, a.scaling_group)]
    if not agents:
        return "no agent is available (none has sent a heartbeat recently)"
    if not in_group:
        return f"no agent of the resource group {s.scaling_group} is available"
    with_image = [a for a in in_group if s.image in a.images]
    if not with_image:
        return f"no available agent has the image {s.image}"
    for agent in with_image:
        if s.requested.fits_in(free[agent.id]):
            return agent
    return shortage_reason(s.requested, [free[a.id] for a in with_image])


def fifo_first_fit(snapshot: Snapshot) -> Plan:
    free = {a.id: a.free for a in snapshot.agents}
    used = dict(snapshot.keypair_used)
    assignments: list[Assignment] = []
    left: list[PendingSession] = []
    for s in snapshot.pending:
        held = _not_yet(s, snapshot) or over_policy(s, used)
        placed = None if held else _place(s, snapshot.agents, free)
        if isinstance(placed, AgentState):
            assignments.append(Assignment(s.id, placed.id, s.requested))
            free[placed.id] = free[placed.id] - s.requested
            used[s.access_key] = used.get(s.access_key, ResourceSlot()) + s.requested
        else:
            left.append(s)
    # Reasons for the sessions left waiting, against what is free after this pass.
    waiting = {}
    for position, s in enumerate(left, start=1):
        placed = _place(s, snapshot.agents, free)
        reason = (
            _not_yet(s, snapshot)
            or over_policy(s, used)
            or (placed if isinstance(placed, str) else "")
        )
        waiting[s.id] = Waiting(reason or "waiting for the next scheduling pass", position)
    return Plan(tuple(assignments), waiting)


def _not_yet(s: PendingSession, snapshot: Snapshot) -> str:
    if s.starts_at is not None and s.starts_at > snapshot.now:
        return f"waits to start at {s.starts_at.isoformat()}"
    return ""


def over_policy(s: PendingSession, used: Mapping[str, ResourceSlot]) -> str:
    """Why the keypair's resource policy does not let ``s`` start now ("" when it does): its
    sessions together may hold no more than the policy's total slots."""
    limit = s.keypair_limit
    if limit is None:
        return ""
    held = used.get(s.access_key, ResourceSlot())
    over = [
        name
        for name in limit
        if s.requested.get_amount(name) > 0
        and held.get_amount(name) + s.requested.get_amount(name) > limit.get_amount(name)
    ]
    if not over:
        return ""
    parts = "; ".join(
        f"{format_amount(n, limit.get_amount(n))} {n} (its sessions hold "
        f"{format_amount(n, held.get_amount(n))})"
        for n in over
    )
    return f"the keypair's resource policy allows in total {parts}"
