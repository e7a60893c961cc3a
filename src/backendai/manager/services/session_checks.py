"""The checks a new session passes at submit: owner, group, dependencies, and resources that
some agent and its policies could ever give, before anything is written; and the most sessions
the owner may hold, in the transaction that inserts the session. Each failure is a clear 4xx
naming the limit. Whether a session may start now is the scheduler's (``scheduler.predicates``):
what could fit later waits as PENDING."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import (
    GroupNotFound,
    InvalidRequest,
    PermissionDenied,
    QuotaExceeded,
    SessionNotFound,
)
from backendai.common.slots import ResourceSlot, format_amount, parse_amount
from backendai.common.statuses import SessionResult, SessionStatus, UserRole
from backendai.manager.authz import Action
from backendai.manager.db.models import (
    Group,
    GroupMembership,
    Image,
    KeyPair,
    KeyPairResourcePolicy,
    ScalingGroup,
    Session,
    User,
)
from backendai.manager.lifecycle import LIVE_STATUSES
from backendai.manager.scheduler.snapshot import alive_agents, limit_for, scope_totals
from backendai.manager.services.auth import Principal
from backendai.manager.services.session_lookup import owner_access_key

# What a session gets for a slot it does not ask for (raised to the image's minimum).
DEFAULT_SLOTS: Mapping[str, Decimal] = {"cpu": Decimal(1), "mem": Decimal(512 * 2**20)}
RESOURCE_OPTS = ("shmem",)


@dataclass(frozen=True)
class Owner:
    access_key: str
    user_uuid: uuid.UUID
    email: str
    role: UserRole
    domain_name: str
    resource_policy: str


async def load_owner(db: AsyncSession, principal: Principal, requested: str | None) -> Owner:
    access_key = await owner_access_key(db, principal, requested, Action.CREATE)
    kp, user = (
        await db.execute(
            sa.select(KeyPair, User)
            .join(User, User.uuid == KeyPair.user)
            .where(KeyPair.access_key == access_key)
        )
    ).one()
    return Owner(kp.access_key, user.uuid, user.email, user.role, user.domain_name,
                 kp.resource_policy)  # fmt: skip


async def resolve_group(
    db: AsyncSession, owner: Owner, domain: str | None, group: str | None
) -> uuid.UUID:
    domain = domain or owner.domain_name
    if domain != owner.domain_name:
        raise InvalidRequest(f"The user {owner.email} does not belong to the domain {domain}.")
    name = group or "default"
    group_id = await db.scalar(
        sa.select(Group.id).where(Group.name == name, Group.domain_name == domain)
    )
    if group_id is None:
        raise GroupNotFound(f"No group (project) {name!r} in the domain {domain}.")
    if owner.role not in (UserRole.SUPERADMIN, UserRole.ADMIN):
        member = await db.scalar(
            sa.select(GroupMembership.id).where(
                GroupMembership.group_id == group_id, GroupMembership.user_id == owner.user_uuid
            )
        )
        if member is None:
            raise PermissionDenied(f"The user {owner.email} is not a member of the group {name}.")
    return group_id


def requested_resources(
    resources: Mapping[str, object], resource_opts: Mapping[str, object], image: Image
) -> tuple[ResourceSlot, dict[str, str]]:
    """The slots to allocate (defaults and the image's minimums applied) and the options."""
    res, opts = dict(resources), dict(resource_opts)
    if "shmem" in res:  # some clients pass it with the resources
        opts.setdefault("shmem", res.pop("shmem"))
    asked = ResourceSlot.parse(res)
    unknown = sorted(set(opts) - set(RESOURCE_OPTS))
    if unknown:
        raise InvalidRequest(
            f"Unknown resource option {', '.join(unknown)}; known: {', '.join(RESOURCE_OPTS)}."
        )
    shmem = _shmem(opts["shmem"]) if "shmem" in opts else None
    minimum = ResourceSlot({slot: Decimal(v["min"]) for slot, v in image.resources.items()})
    slots = {
        slot: max(default, minimum.get_amount(slot)) for slot, default in DEFAULT_SLOTS.items()
    }
    slots.update(asked)
    final = ResourceSlot(slots)
    short = {slot: need for slot, need in minimum.items() if final.get_amount(slot) < need}
    if short:
        needs = ", ".join(f"{s} {format_amount(s, n)}" for s, n in short.items())
        asked_text = ", ".join(f"{s} {format_amount(s, final.get_amount(s))}" for s in short)
        raise InvalidRequest(f"The image {image.name} needs at least {needs}; you asked for "
                             f"{asked_text}.")  # fmt: skip
    if shmem is None:
        return final, {}
    mem = final.get_amount("mem")
    # /dev/shm is a tmpfs whose pages count against the container's memory limit: a larger
    # one would only get the session killed for memory when it is filled.
    if shmem >= mem:
        raise InvalidRequest(
            f"Invalid resource option shmem={opts['shmem']}: shared memory must be smaller than "
            f"the session's memory (mem {format_amount('mem', mem)}); ask for less shmem or "
            "more mem (-r mem=...).",
            data={"shmem": str(shmem), "mem": str(mem)},
        )
    return final, {"shmem": str(shmem)}


def _shmem(value: object) -> Decimal:
    """The size of /dev/shm asked for, in bytes (a size like ``64m``, more than zero)."""
    try:
        size = parse_amount("mem", value)
    except InvalidRequest as e:
        # Its message names the slot whose units it parsed with; the user typed shmem.
        raise InvalidRequest(
            (e.msg or "").replace("resource mem", "resource option shmem"), data=e.data
        ) from e
    if size <= 0:
        # Docker takes 0 as "its default of 64m": the session would silently get another size.
        raise InvalidRequest(
            f"Invalid resource option shmem={value}: write a size more than zero, like 64m or 1g."
        )
    return size


async def check_capacity(db: AsyncSession, slots: ResourceSlot, scaling_group: str | None) -> None:
    """Reject at once what no alive agent could ever give, even with nothing else running.

    With no alive agent at all the session waits (PENDING) for one to come."""
    if scaling_group is not None and await db.get(ScalingGroup, scaling_group) is None:
        raise InvalidRequest(f"No resource group {scaling_group!r}.")
    agents = [a for a in await alive_agents(db) if scaling_group in (None, a.scaling_group)]
    capacities = [ResourceSlot.from_json(a.available_slots) for a in agents]
    if not capacities or any(slots.fits_in(c) for c in capacities):
        return
    parts = []
    for slot, amount in slots.nonzero().items():
        largest = max(c.get_amount(slot) for c in capacities)
        if amount > largest:
            has = f"the largest agent has {format_amount(slot, largest)}" if largest else (
                "no agent has any")  # fmt: skip
            parts.append(f"{slot} {format_amount(slot, amount)} ({has})")
    detail = "; ".join(parts) or f"{slots.nonzero().describe()} on a single agent"
    raise InvalidRequest(
        f"No agent could ever run this session: it asks for {detail}. Ask for less.",
        data={"resources": slots.to_json()},
    )


async def session_limits(db: AsyncSession, owner: Owner) -> tuple[int, int] | None:
    """The keypair policy's (max_concurrent_sessions, max_pending_session_count), or None
    when the number of sessions is not limited (0 or less: no limit; pending below 0: 0)."""
    row = (
        await db.execute(
            sa.select(
                KeyPairResourcePolicy.max_concurrent_sessions,
                KeyPairResourcePolicy.max_pending_session_count,
            ).where(KeyPairResourcePolicy.name == owner.resource_policy)
        )
    ).first()
    if row is None or not row[0] or row[0] <= 0:
        return None
    return row[0], max(row[1] or 0, 0)


async def live_sessions(db: AsyncSession, access_key: str) -> int:
    """The keypair's sessions that count against its limits (ERROR ones do not)."""
    count = await db.scalar(
        sa.select(sa.func.count())
        .select_from(Session)
        .where(
            Session.access_key == access_key,
            Session.status.in_(LIVE_STATUSES - {SessionStatus.ERROR}),
        )
    )
    return count or 0


async def check_quota(db: AsyncSession, owner: Owner) -> None:
    """Refuse a session past what the keypair may hold at all: max_concurrent_sessions placed
    plus max_pending_session_count waiting for the concurrency limit. (Whether it may start
    is the scheduler's concurrency predicate.) Only true while the caller holds the owner's
    keypair row lock and inserts in the same transaction: a count read outside it let 45
    concurrent creates past a limit of 30."""
    limits = await session_limits(db, owner)
    if limits is None:
        return
    concurrent, pending = limits
    limit = concurrent + pending
    running = await live_sessions(db, owner.access_key)
    if running >= limit:
        waits = f" ({concurrent} at once, {pending} more waiting)" if pending else ""
        raise QuotaExceeded(
            f"You already have {running} sessions and your limit is {limit}{waits}; terminate "
            "one first.",
            data={"limit": "max_concurrent_sessions", "max_concurrent_sessions": concurrent,
                  "max_pending_session_count": pending},
        )  # fmt: skip


async def check_policy_totals(
    db: AsyncSession, owner: Owner, group_id: uuid.UUID, slots: ResourceSlot
) -> None:
    """Refuse at once a session that asks for more than its keypair's policy, its group or its
    domain allows in total: it could never start, whatever ends."""
    policy = (
        await db.execute(
            sa.select(
                KeyPairResourcePolicy.total_resource_slots,
                KeyPairResourcePolicy.default_for_unspecified,
            ).where(KeyPairResourcePolicy.name == owner.resource_policy)
        )
    ).first()
    limits: list[tuple[str, str, ResourceSlot | None]] = [
        ("keypair_resource_policy", f"the keypair's resource policy {owner.resource_policy}",
         limit_for((policy[0], policy[1]) if policy else None, slots.to_json())),
    ]  # fmt: skip
    totals = await scope_totals(db, [group_id], [owner.domain_name])
    limits.append(("group_resource_limit", "the group", totals.get(("group", str(group_id)))))
    limits.append(("domain_resource_limit", f"the domain {owner.domain_name}",
                   totals.get(("domain", owner.domain_name))))  # fmt: skip
    for predicate, who, limit in limits:
        if limit is None:
            continue
        over = [n for n in limit if slots.get_amount(n) > limit.get_amount(n)]
        if over:
            parts = "; ".join(
                f"{format_amount(n, slots.get_amount(n))} {n} (allowed in total: "
                f"{format_amount(n, limit.get_amount(n))})"
                for n in over
            )
            raise QuotaExceeded(
                f"This session could never start: it asks for {parts}, more than {who} "
                "allows in total. Ask for less.",
                data={"limit": predicate, "resources": slots.to_json()},
            )


async def resolve_dependencies(
    db: AsyncSession, owner: Owner, refs: Sequence[str]
) -> list[uuid.UUID]:
    """The owner's sessions named (by id or name) in ``refs``. One that already failed or was
    cancelled is refused: the new session could never start."""
    found: list[uuid.UUID] = []
    for ref in dict.fromkeys(refs):
        try:
            by = Session.id == uuid.UUID(ref)
        except ValueError:
            by = Session.name == ref
        dep = await db.scalar(
            sa.select(Session)
            .where(by, Session.access_key == owner.access_key)
            .order_by(Session.created_at.desc())
            .limit(1)
        )
        if dep is None:
            raise SessionNotFound(f"No session {ref!r} of yours to depend on.")
        failed = dep.status in (SessionStatus.ERROR, SessionStatus.CANCELLED) or (
            dep.status is SessionStatus.TERMINATED and dep.result is SessionResult.FAILURE
        )
        if failed:
            raise InvalidRequest(
                f"This session could never start: its dependency {dep.name} ended as "
                f"{dep.status.value} without success.",
                data={"dependency": str(dep.id)},
            )
        found.append(dep.id)
    return found


def check_priority(principal: Principal, priority: int) -> None:
    """Only administrators may move a session ahead of (or behind) others."""
    if priority and not principal.is_admin_key and principal.role not in (
        UserRole.SUPERADMIN, UserRole.ADMIN
    ):  # fmt: skip
        raise PermissionDenied(
            f"Only administrators may set a session's priority (you asked for {priority})."
        )
