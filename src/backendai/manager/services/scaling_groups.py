"""Resource groups (scaling groups): their settings, the domains, groups and keypairs that may
use them, and which of them a new session may run in.

A keypair starts sessions only in the active scaling groups associated with its domain, with
the session's group (project) or with the keypair itself.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import (
    AlreadyExists,
    DomainNotFound,
    GroupNotFound,
    InvalidRequest,
    KeypairNotFound,
    NotFound,
    PermissionDenied,
)
from backendai.common.slots import ResourceSlot
from backendai.manager import authz
from backendai.manager.authz import Action, Resource
from backendai.manager.db.models import (
    Agent,
    Domain,
    Group,
    KeyPair,
    ScalingGroup,
    ScalingGroupForDomain,
    ScalingGroupForGroup,
    ScalingGroupForKeyPair,
    Session,
)
from backendai.manager.lifecycle import LIVE_STATUSES
from backendai.manager.scheduler.snapshot import alive_agents
from backendai.manager.services.auth import Principal

DEFAULT = "default"  # the scaling group every installation starts with
DRIVERS = ("static",)
SCHEDULERS = ("fifo",)
_SHOWN = 10


def not_found(name: str) -> NotFound:
    return NotFound(f"No scaling group (resource group) named {name!r}.")


def _opts(value: Any) -> Any:
    """Options arrive as a JSON object, or (from Backend.AI's CLI) as JSON text inside it."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError as e:
            raise ValueError(f"not a JSON object: {value[:80]!r}") from e
    if value is not None and not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    return value


class ScalingGroupProps(BaseModel):
    """``create``/``modify_scaling_group``'s props; on modify, None keeps a value."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=512)
    is_active: bool | None = None
    wsproxy_addr: str | None = Field(default=None, max_length=1024)
    driver: str | None = None
    driver_opts: dict[str, Any] | None = None
    scheduler: str | None = None
    scheduler_opts: dict[str, Any] | None = None

    _parse_opts = field_validator("driver_opts", "scheduler_opts", mode="before")(_opts)

    @field_validator("driver")
    @classmethod
    def _driver(cls, value: str | None) -> str | None:
        if value is not None and value not in DRIVERS:
            raise ValueError(f"unknown driver {value!r}; known: {', '.join(DRIVERS)}")
        return value

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, value: str | None) -> str | None:
        if value is not None and value not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {value!r}; known: {', '.join(SCHEDULERS)}")
        return value


def _names(items: list[str]) -> str:
    return ", ".join(items[:_SHOWN]) + (", ..." if len(items) > _SHOWN else "")


async def get(db: AsyncSession, name: str) -> ScalingGroup:
    group = await db.get(ScalingGroup, name)
    if group is None:
        raise not_found(name)
    return group


async def create(
    db: AsyncSession, principal: Principal, name: str, props: ScalingGroupProps
) -> ScalingGroup:
    authz.require_any(principal, Resource.SCALING_GROUP, Action.CREATE)
    if not name.strip() or len(name) > 64:
        raise InvalidRequest("A scaling group needs a name of 1 to 64 characters.")
    if await db.get(ScalingGroup, name) is not None:
        raise AlreadyExists(f"A scaling group named {name!r} already exists.")
    values = props.model_dump(exclude_none=True)
    group = ScalingGroup(name=name, **values)
    db.add(group)
    await db.flush()
    return group


async def modify(
    db: AsyncSession, principal: Principal, name: str, props: ScalingGroupProps
) -> ScalingGroup:
    authz.require_any(principal, Resource.SCALING_GROUP, Action.UPDATE)
    group = await get(db, name)
    for column, value in props.model_dump(exclude_none=True).items():
        setattr(group, column, value)
    await db.flush()
    return group


async def delete(db: AsyncSession, principal: Principal, name: str) -> None:
    """Refused while agents belong to it or live sessions run in it; ended sessions forget it."""
    authz.require_any(principal, Resource.SCALING_GROUP, Action.DELETE)
    group = await get(db, name)
    agents = list(await db.scalars(sa.select(Agent.id).where(Agent.scaling_group == name)))
    if agents:
        raise InvalidRequest(
            f"The scaling group {name!r} still has the agents {_names(agents)}; move them to "
            "another scaling group first.",
            data={"agents": agents[:_SHOWN]},
        )
    live = list(
        await db.scalars(
            sa.select(Session.name).where(
                Session.scaling_group_name == name, Session.status.in_(LIVE_STATUSES)
            )
        )
    )
    if live:
        raise InvalidRequest(
            f"The scaling group {name!r} still runs the sessions {_names(live)}; terminate "
            "them first."
        )
    await db.execute(
        sa.update(Session).where(Session.scaling_group_name == name).values(scaling_group_name=None)
    )
    await db.delete(group)
    await db.flush()


async def _domain(db: AsyncSession, name: str) -> str:
    if await db.get(Domain, name) is None:
        raise DomainNotFound(f"No domain named {name!r}.")
    return name


async def _group(db: AsyncSession, group_id: str | uuid.UUID) -> uuid.UUID:
    try:
        gid = group_id if isinstance(group_id, uuid.UUID) else uuid.UUID(str(group_id))
    except ValueError as e:
        raise InvalidRequest(f"{group_id!r} is not a group (project) id (a UUID).") from e
    if await db.get(Group, gid) is None:
        raise GroupNotFound(f"No group (project) with the id {gid}.")
    return gid


async def _keypair(db: AsyncSession, access_key: str) -> str:
    if await db.get(KeyPair, access_key) is None:
        raise KeypairNotFound(f"No keypair with the access key {access_key!r}.")
    return access_key


_LINKS: dict[str, tuple[type[Any], Any]] = {
    "domain": (ScalingGroupForDomain, ScalingGroupForDomain.domain),
    "group": (ScalingGroupForGroup, ScalingGroupForGroup.group),
    "keypair": (ScalingGroupForKeyPair, ScalingGroupForKeyPair.access_key),
}


async def _target(db: AsyncSession, kind: str, target: str | uuid.UUID) -> Any:
    if kind == "domain":
        return await _domain(db, str(target))
    if kind == "group":
        return await _group(db, target)
    return await _keypair(db, str(target))


async def associate(
    db: AsyncSession, principal: Principal, name: str, kind: str, target: str | uuid.UUID
) -> None:
    """Let the domain, group or keypair ``target`` use the scaling group (idempotent)."""
    authz.require_any(principal, Resource.SCALING_GROUP, Action.UPDATE)
    await get(db, name)
    key = await _target(db, kind, target)
    model, column = _LINKS[kind]
    exists = await db.scalar(sa.select(model.id).where(model.scaling_group == name, column == key))
    if exists is None:
        db.add(model(**{"scaling_group": name, column.key: key}))
        await db.flush()


async def dissociate(
    db: AsyncSession,
    principal: Principal,
    name: str | None,
    kind: str,
    target: str | uuid.UUID,
) -> None:
    """Remove one association, or (``name`` None) all of the target's."""
    authz.require_any(principal, Resource.SCALING_GROUP, Action.UPDATE)
    if name is not None:
        await get(db, name)
    key = await _target(db, kind, target)
    model, column = _LINKS[kind]
    q = sa.delete(model).where(column == key)
    if name is not None:
        q = q.where(model.scaling_group == name)
    await db.execute(q)


def allowed_query(
    domain_name: str, group_ids: list[uuid.UUID] | None, access_keys: list[str]
) -> sa.Select[str]:
    """Names of the active scaling groups associated with the domain, any of the groups or
    any of the keypairs."""
    links = sa.union(
        sa.select(ScalingGroupForDomain.scaling_group).where(
            ScalingGroupForDomain.domain == domain_name
        ),
        sa.select(ScalingGroupForGroup.scaling_group).where(
            ScalingGroupForGroup.group.in_(group_ids or [])
        ),
        sa.select(ScalingGroupForKeyPair.scaling_group).where(
            ScalingGroupForKeyPair.access_key.in_(access_keys)
        ),
    ).subquery()
    return (
        sa.select(ScalingGroup.name)
        .where(ScalingGroup.name.in_(sa.select(links.c[0])), ScalingGroup.is_active.is_(True))
        .order_by(ScalingGroup.name)
    )


async def allowed(
    db: AsyncSession, domain_name: str, group_id: uuid.UUID | None, access_key: str
) -> list[str]:
    q = allowed_query(domain_name, [group_id] if group_id else [], [access_key])
    return list(await db.scalars(q))


async def for_session(
    db: AsyncSession,
    *,
    domain_name: str,
    group_id: uuid.UUID,
    access_key: str,
    requested: str | None,
    slots: ResourceSlot,
) -> str:
    """The scaling group a new session runs in: the one asked for, if the keypair may use it;
    else the first allowed one with an alive agent big enough, then with any alive agent, then
    the default one."""
    names = await allowed(db, domain_name, group_id, access_key)
    if requested is not None:
        if await db.get(ScalingGroup, requested) is None:
            raise not_found(requested)
        if requested not in names:
            raise PermissionDenied(
                f"The keypair {access_key} may not use the scaling group {requested!r}: it is "
                "not associated with its domain, group or keypair"
                + (f" (allowed: {', '.join(names)})." if names else ".")
            )
        return requested
    if not names:
        raise PermissionDenied(
            f"No scaling group is associated with the domain {domain_name}, the session's "
            f"group or the keypair {access_key}; ask an administrator to associate one."
        )
    agents = [a for a in await alive_agents(db) if a.scaling_group in names]
    for agent in agents:
        if slots.fits_in(ResourceSlot.from_json(agent.available_slots)):
            return agent.scaling_group
    if agents:
        return agents[0].scaling_group
    return DEFAULT if DEFAULT in names else names[0]  # waits there for an agent


async def available_to(db: AsyncSession, principal: Principal, group: str) -> list[str]:
    """The scaling groups the caller's keypair may start sessions in for the group (project)
    named ``group`` (its name in the caller's domain, or its id)."""
    authz.require_any(principal, Resource.SCALING_GROUP, Action.LIST)
    q = sa.select(Group).where(Group.domain_name == principal.domain_name)
    try:
        found = await db.scalar(q.where(Group.id == uuid.UUID(group)))
    except ValueError:
        found = await db.scalar(q.where(Group.name == group))
    if found is None:
        raise GroupNotFound(f"No group (project) {group!r} in the domain {principal.domain_name}.")
    member = sa.select(Group.id).where(
        Group.id == found.id, authz.where(principal, Resource.GROUP, Action.READ)
    )
    if await db.scalar(member) is None:
        raise GroupNotFound(f"No group (project) {group!r} in the domain {principal.domain_name}.")
    return await allowed(db, principal.domain_name, found.id, principal.access_key)
