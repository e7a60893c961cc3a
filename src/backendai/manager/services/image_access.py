"""Who may see, use and remove which image, from the authorization table's IMAGE rows.

A public image (no owner) is everyone's. A private image (a committed session) is its owner's
and, when it has one, its group's members' (the table's OWN), and a domain admin's when its
owner is in the admin's domain and ranks no higher (DOMAIN). Whoever may not see a private
image is told it does not exist, exactly as for a name nobody registered.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from backendai.common.statuses import UserRole
from backendai.manager import authz
from backendai.manager.authz import Action, Actor, Resource, Scope, Target
from backendai.manager.authz.decide import ranks_within
from backendai.manager.db.models import GroupMembership, Image, User


def _groups_of(actor: Actor) -> sa.Select[uuid.UUID]:
    return sa.select(GroupMembership.group_id).where(GroupMembership.user_id == actor.user_uuid)


def _owners_within(actor: Actor) -> sa.Select[uuid.UUID]:
    owner = aliased(User)
    return sa.select(owner.uuid).where(
        owner.domain_name == actor.domain_name, owner.role.in_(ranks_within(actor.role))
    )


def visible(actor: Actor, action: Action = Action.LIST) -> ColumnElement[bool]:
    """The images the actor may ``action``, as SQL; a role that may never is refused."""
    scope = authz.require_any(actor, Resource.IMAGE, action)
    if scope is Scope.ALL:
        return sa.true()
    own = sa.or_(
        Image.owner_user.is_(None),
        Image.owner_user == actor.user_uuid,
        Image.owner_group.in_(_groups_of(actor)),
    )
    if scope is Scope.OWN:
        return own
    return sa.or_(own, Image.owner_user.in_(_owners_within(actor)))


async def target_of(db: AsyncSession, img: Image, action: Action) -> Target | None:
    """A private image as the table sees it for ``action``; None for a public one. Its
    group's members share its use, never its removal."""
    if img.owner_user is None:
        return None
    owner = await db.get(User, img.owner_user)
    members = {img.owner_user}
    if img.owner_group is not None and action in (Action.LIST, Action.READ, Action.USE):
        members |= set(
            await db.scalars(
                sa.select(GroupMembership.user_id).where(
                    GroupMembership.group_id == img.owner_group
                )
            )
        )
    if owner is None:  # its owner was purged: only the platform's admins reach it
        return Target("", UserRole.SUPERADMIN, frozenset(members))
    return Target(owner.domain_name, owner.role, frozenset(members))


async def permits(db: AsyncSession, actor: Actor, action: Action, img: Image) -> bool:
    scope = authz.scope_of(actor.role, Resource.IMAGE, action)
    if scope is Scope.NONE:
        return False
    target = await target_of(db, img, action)
    if target is None:
        return action in (Action.LIST, Action.READ, Action.USE) or scope is Scope.ALL
    return authz.permits(actor, Resource.IMAGE, action, target)
