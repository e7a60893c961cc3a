"""GraphQL user queries (``admin user(s)``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
import strawberry
from strawberry.types import Info

from backendai.common.errors import (
    UserNotFound,
)
from backendai.manager.db.models import (
    Group,
    GroupMembership,
    User,
)
from backendai.manager.gql.context import GQLContext, page


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

    @staticmethod
    async def build(db: Any, user: User) -> UserNode:
        groups = (
            await db.execute(
                sa.select(Group.id, Group.name)
                .join(GroupMembership, GroupMembership.group_id == Group.id)
                .where(GroupMembership.user_id == user.uuid)
                .order_by(Group.name)
            )
        ).all()
        return UserNode(
            uuid=user.uuid,
            id=user.uuid,
            username=user.username,
            email=user.email,
            need_password_change=user.need_password_change,
            full_name=user.full_name,
            description=user.description,
            is_active=user.status.value == "active",
            status=user.status.value,
            status_info=user.status_info,
            created_at=user.created_at,
            modified_at=user.modified_at,
            domain_name=user.domain_name,
            role=user.role.value,
            resource_policy=user.resource_policy,
            groups=[GroupRef(id=g.id, name=g.name) for g in groups],
        )


@strawberry.type
class UserList:
    items: list[UserNode]
    total_count: int


def _user_scope(ctx: GQLContext, domain_name: str | None) -> sa.Select[User]:
    ctx.require_admin()
    q = sa.select(User)
    domain = ctx.visible_domain(domain_name)
    return q.where(User.domain_name == domain) if domain else q


async def resolve_user(
    info: Info[GQLContext, None], domain_name: str | None = None, email: str | None = None
) -> UserNode:
    ctx = info.context
    if email is None or email == ctx.principal.email:
        user = await ctx.db.get(User, ctx.principal.user_uuid)
    else:
        user = (
            await ctx.db.execute(_user_scope(ctx, domain_name).where(User.email == email))
        ).scalar_one_or_none()
    if user is None:
        raise UserNotFound(f"No user {email} that you may see.")
    return await UserNode.build(ctx.db, user)


async def resolve_user_from_uuid(
    info: Info[GQLContext, None], user_id: uuid.UUID, domain_name: str | None = None
) -> UserNode:
    ctx = info.context
    if user_id == ctx.principal.user_uuid:
        user = await ctx.db.get(User, user_id)
    else:
        user = (
            await ctx.db.execute(_user_scope(ctx, domain_name).where(User.uuid == user_id))
        ).scalar_one_or_none()
    if user is None:
        raise UserNotFound(f"No user {user_id} that you may see.")
    return await UserNode.build(ctx.db, user)


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
    q = _user_scope(ctx, domain_name)
    if group_id is not None:
        q = q.join(GroupMembership, GroupMembership.user_id == User.uuid).where(
            GroupMembership.group_id == group_id
        )
    if status is not None:
        q = q.where(User.status == status)
    elif is_active is not None:
        q = q.where((User.status == "active") if is_active else (User.status != "active"))
    total = await ctx.db.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    users = (
        (await ctx.db.execute(q.order_by(User.created_at, User.email).limit(limit).offset(offset)))
        .scalars()
        .all()
    )
    return UserList(items=[await UserNode.build(ctx.db, u) for u in users], total_count=total or 0)


async def resolve_users(
    info: Info[GQLContext, None],
    domain_name: str | None = None,
    group_id: uuid.UUID | None = None,
    is_active: bool | None = None,
    status: str | None = None,
) -> list[UserNode]:
    result = await resolve_user_list(info, 1000, 0, domain_name, group_id, is_active, status)
    return result.items
