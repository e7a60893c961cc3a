"""Usage statistics per group (``admin resources usage-per-period`` / ``usage-per-month``),
computed from the kernels that ran in the period, in the shape Backend.AI's client prints."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import GroupNotFound, InvalidRequest
from backendai.common.slots import ResourceSlot
from backendai.manager import authz
from backendai.manager.authz import Action, Resource, Target
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import Group, Kernel, KeyPair, Session, User
from backendai.manager.services.auth import Principal

MAX_DAYS = 100  # the longest period one request may ask about


class UsagePerPeriod(BaseModel):
    group_id: str
    start_date: str = Field(description="yyyymmdd, inclusive")
    end_date: str = Field(description="yyyymmdd, inclusive")


class UsagePerMonth(BaseModel):
    month: str = Field(description="yyyymm")
    group_ids: list[str] = Field(default_factory=list, max_length=100)


def _day(text: str, what: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError as e:
        raise InvalidRequest(f"The {what} {text!r} is not a date of the form yyyymmdd.") from e


def period_of(req: UsagePerPeriod) -> tuple[datetime, datetime]:
    start = _day(req.start_date, "start date")
    end = _day(req.end_date, "end date") + timedelta(days=1)
    if end <= start:
        raise InvalidRequest("The end date must not be before the start date.")
    if end - start > timedelta(days=MAX_DAYS):
        raise InvalidRequest(f"Ask for at most {MAX_DAYS} days at once.")
    return start, end


def month_of(month: str) -> tuple[datetime, datetime]:
    try:
        start = datetime.strptime(month, "%Y%m").replace(tzinfo=UTC)
    except ValueError as e:
        raise InvalidRequest(f"The month {month!r} is not of the form yyyymm.") from e
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as e:
        raise InvalidRequest(f"{text!r} is not a group (project) id (a UUID).") from e


async def _groups(db: AsyncSession, principal: Principal, ids: Sequence[str]) -> list[Group]:
    """The groups, each one the caller may see usage of; a domain admin reaches its domain's.
    No ids: every group the caller reaches."""
    scope = authz.require_any(principal, Resource.USAGE, Action.LIST)
    if not ids:
        q = sa.select(Group).order_by(Group.domain_name, Group.name)
        if scope is not authz.Scope.ALL:
            q = q.where(Group.domain_name == principal.domain_name)
        return list(await db.scalars(q))
    groups = []
    for text in ids:
        gid = _uuid(text)
        group = await db.get(Group, gid)
        target = None if group is None else Target.domain(group.domain_name)
        missing = GroupNotFound(f"No group (project) with the id {gid}.")
        authz.require(principal, Resource.USAGE, Action.LIST, target, missing)
        assert group is not None
        groups.append(group)
    return groups


def _iso(value: datetime) -> str:
    return value.isoformat()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _group_usage(
    db: AsyncSession, group: Group, start: datetime, end: datetime, now: datetime
) -> dict[str, Any] | None:
    rows = (
        await db.execute(
            sa.select(Kernel, Session, KeyPair.access_key, User.email, User.full_name)
            .join(Session, Session.id == Kernel.session_id)
            .join(KeyPair, KeyPair.access_key == Session.access_key)
            .join(User, User.uuid == Session.user_uuid)
            .where(
                Session.group_id == group.id,
                Kernel.agent.is_not(None),  # it ran (was placed on an agent)
                Kernel.created_at < end,
                sa.or_(Kernel.terminated_at.is_(None), Kernel.terminated_at >= start),
            )
            .order_by(Kernel.created_at)
        )
    ).all()
    if not rows:
        return None
    c_infos: list[dict[str, Any]] = []
    total = ResourceSlot()
    used_seconds = Decimal(0)
    for kernel, session, access_key, email, full_name in rows:
        slots = ResourceSlot.from_json(kernel.occupied_slots or kernel.requested_slots)
        total = total + slots
        begun = _aware(kernel.created_at)
        ended = _aware(kernel.terminated_at) if kernel.terminated_at else now
        seconds = max((ended - begun).total_seconds(), 0.0)
        used_seconds += Decimal(str(seconds))
        stat = kernel.last_stat or {}
        c_infos.append({
            "id": str(kernel.id), "container_ids": kernel.container_id or "",
            "domain_name": session.domain_name, "group_id": str(group.id),
            "group_name": group.name, "name": session.name, "access_key": access_key,
            "email": email, "full_name": full_name or "", "image_name": kernel.image,
            "created_at": _iso(begun), "terminated_at": _iso(ended),
            "used_time": str(ended - begun).split(".")[0],
            "used_days": (ended.date() - begun.date()).days + 1,
            "smp": float(slots.get_amount("cpu")), "cpu_allocated": float(slots.get_amount("cpu")),
            "cpu_used": float(_metric(stat, "cpu_used")),
            "mem_allocated": int(slots.get_amount("mem")),
            "mem_used": int(_metric(stat, "mem")),
            "shared_memory": int((session.resource_opts or {}).get("shmem", 0) or 0),
            "io_read": int(_metric(stat, "io_read")), "io_write": int(_metric(stat, "io_write")),
            "nfs": [
                m if isinstance(m, str) else str(m.get("name", ""))
                for m in session.vfolder_mounts or []
            ],
            "device_type": _devices(slots), "gpu_allocated": float(_gpus(slots)),
            "status": kernel.status.value, "status_info": kernel.status_info or "",
        })  # fmt: skip
    return {
        "g_id": str(group.id), "g_name": group.name, "domain_name": group.domain_name,
        "g_smp": float(total.get_amount("cpu")), "g_cpu_allocated": float(total.get_amount("cpu")),
        "g_mem_allocated": int(total.get_amount("mem")),
        "g_gpu_allocated": float(_gpus(total)),
        "g_cpu_used": sum(c["cpu_used"] for c in c_infos),
        "g_mem_used": sum(c["mem_used"] for c in c_infos),
        "g_io_read": sum(c["io_read"] for c in c_infos),
        "g_io_write": sum(c["io_write"] for c in c_infos),
        "g_device_type": sorted({d for c in c_infos for d in c["device_type"]}),
        "g_used_seconds": float(used_seconds),
        "c_infos": c_infos,
    }  # fmt: skip


def _metric(stat: dict[str, Any], key: str) -> Decimal:
    value = stat.get(key)
    if isinstance(value, dict):
        value = value.get("current")
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except ArithmeticError:
        return Decimal(0)


def _gpus(slots: ResourceSlot) -> Decimal:
    return slots.get_amount("cuda.device") + slots.get_amount("cuda.shares")


def _devices(slots: ResourceSlot) -> list[str]:
    return sorted(k for k in slots.nonzero() if k.startswith("cuda."))


async def per_period(db: AsyncSession, principal: Principal, req: UsagePerPeriod) -> dict[str, Any]:
    """One group's usage in the period; ``{}`` when nothing of it ran then."""
    start, end = period_of(req)
    (group,) = await _groups(db, principal, [req.group_id])
    return await _group_usage(db, group, start, end, utcnow()) or {}


async def per_month(
    db: AsyncSession, principal: Principal, req: UsagePerMonth
) -> list[dict[str, Any]]:
    """The usage of each group that ran something in the month."""
    start, end = month_of(req.month)
    now = utcnow()
    result = []
    for group in await _groups(db, principal, req.group_ids):
        usage = await _group_usage(db, group, start, end, now)
        if usage is not None:
            result.append(usage)
    return result
