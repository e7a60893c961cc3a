"""Admission predicates: whether a pending session may start now, as pure functions.

Each predicate answers None (admitted) or a ``Blocked`` naming itself, a reason a person can
read with the numbers, and, when it can be derived, when the session could start. They run in
this order in every pass (``ADMISSION``), over the pass's running accounting (``Usage``), and the
applier checks the limits again under lock before it commits.

=====================  ==========================================================
dependencies           every dependency ended successfully (TERMINATED, result SUCCESS);
                       one that failed or was cancelled cancels the dependant
starts_at              the requested start time has come
keypair_concurrency    the keypair's max_concurrent_sessions
keypair_resource_policy the keypair policy's total_resource_slots
group_resource_limit   the group's (project's) total_resource_slots
domain_resource_limit  the domain's total_resource_slots
=====================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from backendai.common.slots import ResourceSlot, format_amount
from backendai.common.statuses import SessionResult, SessionStatus
from backendai.manager.scheduler.snapshot import PendingSession, Scope, Snapshot

# Dependency statuses that can never end successfully any more.
_FAILED = frozenset({SessionStatus.ERROR, SessionStatus.CANCELLED})


@dataclass(frozen=True)
class Blocked:
    predicate: str
    reason: str
    estimated_start: datetime | None = None
    # The session can never start: cancel it (a dependency failed).
    cancel: bool = False


@dataclass
class Usage:
    """What keypairs and limited scopes hold, as the pass places sessions."""

    keypair_used: dict[str, ResourceSlot] = field(default_factory=dict)
    keypair_running: dict[str, int] = field(default_factory=dict)
    scope_used: dict[Scope, ResourceSlot] = field(default_factory=dict)

    @classmethod
    def of(cls, snapshot: Snapshot) -> Usage:
        return cls(dict(snapshot.keypair_used), dict(snapshot.keypair_running),
                   dict(snapshot.scope_used))  # fmt: skip

    def add(self, s: PendingSession) -> None:
        key = s.access_key
        self.keypair_used[key] = self.keypair_used.get(key, ResourceSlot()) + s.requested
        self.keypair_running[key] = self.keypair_running.get(key, 0) + 1
        for scope in s.scopes:
            self.scope_used[scope] = self.scope_used.get(scope, ResourceSlot()) + s.requested


Predicate = Callable[[PendingSession, Snapshot, Usage], Blocked | None]


def dependencies(s: PendingSession, snap: Snapshot, _: Usage) -> Blocked | None:
    waiting = []
    for dep_id in s.dependencies:
        dep = snap.dependencies.get(dep_id)
        if dep is None:
            continue  # deleted: nothing to wait for
        if dep.status in _FAILED or (
            dep.status is SessionStatus.TERMINATED and dep.result is SessionResult.FAILURE
        ):
            return Blocked(
                "dependencies",
                f"cancelled: its dependency {dep.name} ended as {dep.status.value} without success",
                cancel=True,
            )
        if dep.status is not SessionStatus.TERMINATED:
            waiting.append(f"{dep.name} ({dep.status.value})")
    if waiting:
        return Blocked("dependencies", f"waits for {', '.join(waiting)} to end successfully")
    return None


def starts_at(s: PendingSession, snap: Snapshot, _: Usage) -> Blocked | None:
    if s.starts_at is not None and s.starts_at > snap.now:
        return Blocked("starts_at", f"waits to start at {s.starts_at.isoformat()}", s.starts_at)
    return None


def keypair_concurrency(s: PendingSession, snap: Snapshot, usage: Usage) -> Blocked | None:
    limit = s.max_concurrent
    if not limit or limit <= 0:
        return None
    running = usage.keypair_running.get(s.access_key, 0)
    if running < limit:
        return None
    ends = snap.keypair_releases.get(s.access_key, ())
    # The session may start once (running - limit + 1) of the keypair's sessions have ended.
    need = running - limit
    estimate = ends[need] if need < len(ends) else None
    plural = "s" if limit != 1 else ""
    return Blocked(
        "keypair_concurrency",
        f"keypair limit of {limit} concurrent session{plural} reached",
        estimate,
    )


def over_policy(s: PendingSession, used: Mapping[str, ResourceSlot]) -> str:
    """Why the keypair's resource policy does not let ``s`` start now ("" when it does): its
    sessions together may hold no more than the policy's total slots."""
    limit = s.keypair_limit
    if limit is None:
        return ""
    held = used.get(s.access_key, ResourceSlot())
    over = _over(s.requested, held, limit)
    if not over:
        return ""
    parts = "; ".join(
        f"{format_amount(n, limit.get_amount(n))} {n} (its sessions hold "
        f"{format_amount(n, held.get_amount(n))})"
        for n in over
    )
    return f"the keypair's resource policy allows in total {parts}"


def keypair_resource_policy(s: PendingSession, _: Snapshot, usage: Usage) -> Blocked | None:
    reason = over_policy(s, usage.keypair_used)
    return Blocked("keypair_resource_policy", reason) if reason else None


def _over(requested: ResourceSlot, held: ResourceSlot, limit: ResourceSlot) -> list[str]:
    return [
        name
        for name in limit
        if requested.get_amount(name) > 0
        and held.get_amount(name) + requested.get_amount(name) > limit.get_amount(name)
    ]


def _scope_limit(kind: str) -> Predicate:
    def check(s: PendingSession, snap: Snapshot, usage: Usage) -> Blocked | None:
        for scope in s.scopes:
            if scope[0] != kind:
                continue
            limit = snap.totals[scope]
            held = usage.scope_used.get(scope, ResourceSlot())
            over = _over(s.requested, held, limit)
            if over:
                name = "group" if kind == "group" else f"domain {scope[1]}"
                parts = "; ".join(
                    f"{format_amount(n, limit.get_amount(n))} {n} (its sessions hold "
                    f"{format_amount(n, held.get_amount(n))}, this one needs "
                    f"{format_amount(n, s.requested.get_amount(n))})"
                    for n in over
                )
                return Blocked(f"{kind}_resource_limit", f"{name} limit of {parts} reached")
        return None

    check.__name__ = f"{kind}_resource_limit"
    return check


group_resource_limit = _scope_limit("group")
domain_resource_limit = _scope_limit("domain")

ADMISSION: tuple[Predicate, ...] = (
    dependencies,
    starts_at,
    keypair_concurrency,
    keypair_resource_policy,
    group_resource_limit,
    domain_resource_limit,
)


def admit(s: PendingSession, snap: Snapshot, usage: Usage) -> Blocked | None:
    """The first predicate that keeps ``s`` from starting now, or None."""
    for predicate in ADMISSION:
        blocked = predicate(s, snap, usage)
        if blocked is not None:
            return blocked
    return None
