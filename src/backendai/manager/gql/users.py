"""GraphQL user queries (``admin user(s)``)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
import strawberry
from sqlalchemy.sql.elements import ColumnElement
from strawberry.types import Info

from backendai.common.errors import UserNotFound
from backendai.common.statuses import UserStatus
from backendai.manager import authz
from backendai.manager.authz import Action, Resource
from backendai.manager.db.models import (
    Group,
    GroupMembership,
    User,
)
from backendai.manager.gql.context import MAX_PAGE, GQLContext, page
from backendai.manager.gql.list_filters import filtered


@strawberry.type
class GroupRef:
    id: uuid.UUID
    name: str


@strawberry.type
class UserNode:
    uuid: UUID
    id: UUID
    username: str
    email: str
    need_password_change: bool
    full_name: str | None
    description: str | None
    is_active: bool
    status: str
    status_info: str | None
    created_at: datetime
    modified_at: datetime | None
    domain_name: str
    role: str
    resource_policy: str
    groups: list[GroupRef]


@strawberry.type
class UserList:
    items: list[UserNode]
    total_count: int


async def _nodes(ctx: GQLContext, users: Sequence[User]) -> list[UserNode]:
    """The users as nodes, with the groups of the whole page read in one query."""
    groups: dict[uuid.UUID, list[GroupRef]] = defaultdict(list)
    rows = await ctx.db.execute(
        sa.select(GroupMembership.user_id, Group.id, Group.name)
        .join(Group, GroupMembership.group_id == Group.id)
        .where(GroupMembership.user_id.in_([u.uuid for u in users]))
        .order_by(Group.name)
    )
    for user_id, group_id, name in rows:
        groups[user_id].append(GroupRef(id=group_id, name=name))
    return [
        UserNode(
            uuid=user.uuid,
            id=user.uuid,
            username=user.username,
            email=user.email,
            need_password_change=user.need_password_change,
            full_name=user.full_name,
            description=user.description,
            is_active=user.status is UserStatus.ACTIVE,
            status=user.status.value,
            status_info=user.status_info,
            created_at=user.created_at,
            modified_at=user.modified_at,
            domain_name=user.domain_name,
            role=user.role.value,
            resource_policy=user.resource_policy,
            groups=groups[user.uuid],
        )
        for user in users
    ]


async def _one(
    ctx: GQLContext, domain_name: str | None, cond: ColumnElement[bool], ref: str
) -> UserNode:
    q = sa.select(User).where(ctx.visible(Resource.USER, Action.READ, domain_name), cond)
    if domain_name:
        q = q.where(User.domain_name == domain_name)
    user = (await ctx.db.execute(q)).scalar_one_or_none()
    if user is None:
        missing = UserNotFound(f"No user {ref} that you may see.")
        raise authz.absent(ctx.principal, Resource.USER, Action.READ, missing)
    return (await _nodes(ctx, [user]))[0]


async def resolve_user(
    info: Info[GQLContext, None], domain_name: str | None = None, email: str | None = None
) -> UserNode:
    ctx = info.context
    email = email or ctx.principal.email
    return await _one(ctx, domain_name, User.email == email, email)


async def resolve_user_from_uuid(
    info: Info[GQLContext, None], user_id: uuid.UUID, domain_name: str | None = None
) -> UserNode:
    return await _one(info.context, domain_name, User.uuid == user_id, str(user_id))


# What ``filter`` and ``order`` may name: what the list shows (never the password's hash).
USER_FIELDS = {
    "uuid": User.uuid,
    "email": User.email,
    "username": User.username,
    "full_name": User.full_name,
    "description": User.description,
    "role": User.role,
    "status": User.status,
    "status_info": User.status_info,
    "need_password_change": User.need_password_change,
    "domain_name": User.domain_name,
    "resource_policy": User.resource_policy,
    "created_at": User.created_at,
    "modified_at": User.modified_at,
}


async def resolve_user_list(
    info: Info[GQLContext, None],
    limit: int,
    offset: int,
    domain_name: str | None = None,
    group_id: uuid.UUID | None = None,
    is_active: bool | None = None,
    status: str | None = None,
    filter: str | None = None,
    order: str | None = None,
) -> UserList:
    ctx = info.context
    limit, offset = page(limit, offset)
    q = sa.select(User).where(ctx.visible(Resource.USER, Action.LIST, domain_name))
    if domain_name:
        q = q.where(User.domain_name == domain_name)
    if group_id is not None:
        q = q.join(GroupMembership, GroupMembership.user_id == User.uuid).where(
            GroupMembership.group_id == group_id
        )
    if status is not None:
        q = q.where(User.status == status)
    elif is_active is not None:
        active = User.status == UserStatus.ACTIVE
        q = q.where(active if is_active else sa.not_(active))
    q, ordered = filtered(q, USER_FIELDS, filter, order, (User.created_at, User.email))
    total = await ctx.db.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    users = (await ctx.db.execute(ordered.limit(limit).offset(offset))).scalars().all()
    return UserList(items=await _nodes(ctx, ctx.charge(users)), total_count=total or 0)


async def resolve_users(
    info: Info[GQLContext, None],
    domain_name: str | None = None,
    group_id: uuid.UUID | None = None,
    is_active: bool | None = None,
    status: str | None = None,
) -> list[UserNode]:
    result = await resolve_user_list(info, MAX_PAGE, 0, domain_name, group_id, is_active, status)
    return result.items


async def user_node(ctx: GQLContext, user_uuid: uuid.UUID) -> UserNode:
    """The user as a node (a mutation's answer about the user it changed)."""
    return (await _nodes(ctx, [await ctx.db.get_one(User, user_uuid)]))[0]
