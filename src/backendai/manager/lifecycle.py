"""The session state machine: one table of allowed transitions, one function that applies them.

Every status change of a session (and its kernels) goes through ``transition``: it checks the
table, sets status, status_info, status_data, status_changed and terminated_at, writes a
``SessionStatusChange`` row with the time and the reason, and queues the lifecycle events that
go out when the transaction commits.

    PENDING ──> SCHEDULED ──> PREPARING ──> (PULLING) ──> RUNNING <──> RESTARTING
       │            │             │                          │
       └─> CANCELLED└─> ... ERROR ┴──────> TERMINATING <─────┘
                                   └──────────> TERMINATED <─┘
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import InvalidSessionState
from backendai.common.statuses import SessionResult, SessionType
from backendai.common.statuses import SessionStatus as S
from backendai.manager.db.locks import lock_row
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import Kernel, Session, SessionStatusChange
from backendai.manager.events import EventName, KernelRef, SessionEvent, queue_event

TRANSITIONS: Mapping[S, frozenset[S]] = {
    S.PENDING: frozenset({S.SCHEDULED, S.CANCELLED, S.ERROR}),
    S.SCHEDULED: frozenset({S.PREPARING, S.PENDING, S.CANCELLED, S.ERROR, S.TERMINATING}),
    S.PREPARING: frozenset({S.PULLING, S.RUNNING, S.ERROR, S.TERMINATING}),
    S.PULLING: frozenset({S.PREPARING, S.RUNNING, S.ERROR, S.TERMINATING}),
    S.RUNNING: frozenset({S.RESTARTING, S.TERMINATING, S.ERROR}),
    S.RESTARTING: frozenset({S.RUNNING, S.TERMINATING, S.ERROR}),
    S.TERMINATING: frozenset({S.TERMINATED, S.ERROR}),
    # An ERROR session keeps its name and shows in ``ps`` until someone removes it.
    S.ERROR: frozenset({S.TERMINATING, S.TERMINATED}),
    S.TERMINATED: frozenset(),
    S.CANCELLED: frozenset(),
}

# Statuses a session never leaves; every other status holds the session's name.
FINAL_STATUSES = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
LIVE_STATUSES = frozenset(S) - FINAL_STATUSES
# Statuses whose kernel holds resources on its agent.
OCCUPYING_STATUSES = frozenset(
    {S.SCHEDULED, S.PREPARING, S.PULLING, S.RUNNING, S.RESTARTING, S.TERMINATING}
)
_STARTED = frozenset({S.RUNNING, S.RESTARTING, S.TERMINATING})
_ENDED = frozenset({S.TERMINATED, S.CANCELLED, S.ERROR})


def can_transition(current: S, to: S) -> bool:
    return to in TRANSITIONS[current]


def check_transition(current: S, to: S) -> None:
    if not can_transition(current, to):
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (it is final)"
        raise InvalidSessionState(
            f"A {current.value} session cannot become {to.value}; from {current.value} it "
            f"may become: {allowed}."
        )


def events_for(current: S | None, to: S) -> tuple[list[EventName], list[EventName]]:
    """(session events, kernel events) announcing a change from ``current`` to ``to``."""
    e = EventName
    if to is S.PENDING and current is None:
        return [e.SESSION_ENQUEUED], [e.KERNEL_ENQUEUED]
    if to is S.SCHEDULED:
        return [e.SESSION_SCHEDULED], []
    if to is S.PREPARING:
        return [e.SESSION_PREPARING], [e.KERNEL_PREPARING]
    if to is S.PULLING:
        return [], [e.KERNEL_PULLING]
    if to is S.RUNNING:
        return ([] if current is S.RESTARTING else [e.SESSION_STARTED]), [e.KERNEL_STARTED]
    if to is S.TERMINATING:
        return [], [e.KERNEL_TERMINATING]
    if to is S.TERMINATED:
        return [e.SESSION_TERMINATED], [e.KERNEL_TERMINATED]
    if to is S.CANCELLED:
        return [e.SESSION_CANCELLED], [e.KERNEL_CANCELLED]
    if to is S.ERROR:
        if current in _STARTED:
            return [e.SESSION_TERMINATED], [e.KERNEL_TERMINATED]
        return [e.SESSION_CANCELLED], [e.KERNEL_CANCELLED]
    return [], []


def _event(s: Session, name: EventName, reason: str, k: Kernel | None = None) -> SessionEvent:
    ref = KernelRef(k.id, k.cluster_role, k.cluster_idx) if k is not None else None
    return SessionEvent(
        name=name,
        session_id=s.id,
        session_name=s.name,
        owner_access_key=s.access_key,
        group_id=s.group_id,
        reason=reason,
        kernel=ref,
    )


def _queue(
    db: AsyncSession, s: Session, kernels: list[Kernel], current: S | None, to: S, reason: str
) -> None:
    session_events, kernel_events = events_for(current, to)
    if to is S.TERMINATED and s.session_type is SessionType.BATCH:
        # Backend.AI's batch result events, announced just before the session's end.
        if s.result is SessionResult.SUCCESS:
            session_events = [EventName.SESSION_SUCCESS, *session_events]
        elif s.result is SessionResult.FAILURE:
            session_events = [EventName.SESSION_FAILURE, *session_events]
    kernel_first = to in _ENDED or to is S.RUNNING  # kernels end/start before their session
    queued = [_event(s, n, reason, k) for n in kernel_events for k in kernels]
    own = [_event(s, n, reason) for n in session_events]
    for ev in queued + own if kernel_first else own + queued:
        queue_event(db, ev)


async def _kernels_of(db: AsyncSession, session_id: uuid.UUID) -> list[Kernel]:
    rows = await db.scalars(
        sa.select(Kernel).where(Kernel.session_id == session_id).order_by(Kernel.cluster_idx)
    )
    return list(rows)


async def enqueue(db: AsyncSession, s: Session, kernels: list[Kernel], reason: str) -> None:
    """Add a new session and its kernels as PENDING, with its first history row and events."""
    now = utcnow()
    s.status, s.status_changed = S.PENDING, now
    db.add(s)
    await db.flush()  # no relationship() in the models: referenced rows go first, by hand
    for k in kernels:
        k.status, k.status_changed = S.PENDING, now
    db.add_all(kernels)
    await db.flush()
    db.add(SessionStatusChange(session_id=s.id, status=S.PENDING, reason=reason, changed_at=now))
    _queue(db, s, kernels, None, S.PENDING, reason)


async def transition(
    db: AsyncSession,
    s: Session,
    to: S,
    *,
    reason: str,
    info: str | None = None,
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """Move ``s`` and its kernels to ``to``; ``reason`` is the short cause ("user-requested").

    ``info`` (default: the reason) is what ``ps`` shows as Status Info; ``data`` replaces the
    structured details (status_data). Raises InvalidSessionState for a forbidden change.
    """
    current = s.status
    check_transition(current, to)
    now = now or utcnow()
    status_info = (info if info is not None else reason)[:256]
    s.status, s.status_info, s.status_data, s.status_changed = to, status_info, data or {}, now
    if to in FINAL_STATUSES or to is S.ERROR:
        s.terminated_at = s.terminated_at or now
    kernels = await _kernels_of(db, s.id)
    for k in kernels:
        k.status, k.status_info, k.status_data, k.status_changed = to, status_info, data or {}, now
        if to in FINAL_STATUSES or to is S.ERROR:
            k.terminated_at = k.terminated_at or now
    db.add(SessionStatusChange(session_id=s.id, status=to, reason=reason[:256], changed_at=now))
    _queue(db, s, kernels, current, to, reason)


async def load_for_update(db: AsyncSession, session_id: uuid.UUID) -> Session | None:
    """The session, locked until the transaction ends, as the database has it now.

    Every transaction that changes a session's status starts here, so two of them (a user's
    ``rm`` and the kernel launcher, say) never both act on the same old status.
    """
    if not await lock_row(db, Session.id, session_id):
        return None
    return await db.get(Session, session_id, populate_existing=True)
