"""What the identity services (users, keypairs, domains, groups) decide alike.

- who a user, keypair or group is to the authorization table (``Target``), and the lookups
  that answer "not found" for what the actor may not see exactly as for what does not exist;
- which sessions still hold resources (a purge refuses while any do);
- storage hosts as the tables keep them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from backendai.common.errors import (
    DomainNotFound,
    GroupNotFound,
    InvalidRequest,
    PermissionDenied,
    UserNotFound,
)
from backendai.common.statuses import SessionStatus, UserRole
from backendai.common.vfolders import parse_host_grants
from backendai.manager import authz
from backendai.manager.authz import Action, Actor, Resource, Target
from backendai.manager.db.models import Domain, Group, GroupMembership, Session, User

ENDED = (SessionStatus.TERMINATED, SessionStatus.CANCELLED)


def hosts(entries: Iterable[str]) -> dict[str, Any]:
    """Host grants as a client sends them (``local``, ``local:download-file+upload-file``), as
    the tables keep them (host -> permissions)."""
    try:
        return dict(parse_host_grants(entries))
    except ValueError as e:
        raise InvalidRequest(str(e)) from None


def user_target(user: User) -> Target:
    return Target.owned_by(user.uuid, user.domain_name, user.role)


def user_missing(email: str) -> UserNotFound:
    return UserNotFound(f"No user {email} that you may see.")


async def reach_user(db: AsyncSession, actor: Actor, action: Action, email: str) -> User:
    """The user ``email`` if the actor may ``action`` it; otherwise the table's refusal
    (not found, alike for someone out of reach and for no one)."""
    user = await db.scalar(sa.select(User).where(User.email == email))
    authz.require(
        actor,
        Resource.USER,
        action,
        None if user is None else user_target(user),
        user_missing(email),
    )
    assert user is not None  # require() refuses a missing target
    return user


def require_role(actor: Actor, action: Action, domain_name: str, role: UserRole) -> None:
    """A user to be created (or changed) into ``role`` in ``domain_name``: the actor must reach
    such a user without counting as its owner (no one promotes itself). Decided from the
    names alone, so a refusal says nothing about whether the domain exists."""
    authz.require_any(actor, Resource.USER, action)
    if not authz.permits(actor, Resource.USER, action, Target.domain(domain_name)):
        raise PermissionDenied(f"You may not manage users of the domain {domain_name}.")
    if not authz.permits(actor, Resource.USER, action, Target(domain_name, role)):
        verb = "create" if action is Action.CREATE else "give anyone"
        raise PermissionDenied(f"You may not {verb} the {role.value} role.")


def require_domain_of(actor: Actor, resource: Resource, action: Action, domain_name: str) -> None:
    """Creating something in ``domain_name``: decided from the name alone, so a refusal says
    nothing about whether the domain exists."""
    authz.require_any(actor, resource, action)
    if not authz.permits(actor, resource, action, Target.domain(domain_name)):
        raise PermissionDenied(
            f"You may not {action.value} {resource.value}s in the domain {domain_name}."
        )


async def existing_domain(db: AsyncSession, name: str) -> Domain:
    domain = await db.get(Domain, name)
    if domain is None:
        raise DomainNotFound(f"There is no domain named {name!r}.")
    return domain


async def group_target(db: AsyncSession, group: Group) -> Target:
    members = await db.scalars(
        sa.select(GroupMembership.user_id).where(GroupMembership.group_id == group.id)
    )
    return Target.group(group.domain_name, members)


async def reach_group(db: AsyncSession, actor: Actor, action: Action, gid: uuid.UUID) -> Group:
    group = await db.get(Group, gid)
    target = None if group is None else await group_target(db, group)
    authz.require(
        actor, Resource.GROUP, action, target, GroupNotFound(f"No group {gid} that you may see.")
    )
    assert group is not None
    return group


async def groups_in(db: AsyncSession, domain_name: str, ids: Iterable[uuid.UUID]) -> list[Group]:
    """The groups ``ids``, all of which must be of ``domain_name``."""
    wanted = set(ids)
    found = list(
        await db.scalars(
            sa.select(Group).where(Group.id.in_(wanted), Group.domain_name == domain_name)
        )
    )
    missing = wanted - {g.id for g in found}
    if missing:
        names = ", ".join(sorted(str(m) for m in missing))
        raise InvalidRequest(f"No group {names} in the domain {domain_name}.")
    return found


async def count_sessions(db: AsyncSession, where: ColumnElement[bool], live: bool) -> int:
    """Sessions matching ``where``: those still running or waiting (``live``), or all."""
    q = sa.select(sa.func.count()).select_from(Session).where(where)
    if live:
        q = q.where(Session.status.not_in(ENDED))
    return int(await db.scalar(q) or 0)
