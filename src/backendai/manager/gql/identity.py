"""GraphQL types and queries for keypairs, users, domains and groups."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
import strawberry
from strawberry.types import Info

from backendai.common.errors import (
    DomainNotFound,
    GroupNotFound,
    KeypairNotFound,
    PermissionDenied,
    UserNotFound,
)
from backendai.common.statuses import SessionStatus
from backendai.manager.db.models import (
    Domain,
    Group,
    GroupMembership,
    KeyPair,
    KeyPairResourcePolicy,
    Session,
    User,
)
from backendai.manager.gql.context import GQLContext
from backendai.manager.gql.scalars import JSONString

_LIVE = [s for s in SessionStatus if s not in (SessionStatus.TERMINATED, SessionStatus.CANCELLED)]


@strawberry.type
class UserInfo:
    email: str | None
    full_name: str | None


@strawberry.type
class GroupRef:
    id: uuid.UUID
    name: str


@strawberry.type
class KeyPairNode:
    user_id: str
    access_key: str
    secret_key: str
    is_active: bool
    is_admin: bool
    resource_policy: str
    created_at: datetime
    modified_at: datetime | None
    last_used: datetime | None
    rate_limit: int
    num_queries: int
    ssh_public_key: str | None
    user_info: UserInfo
    concurrency_limit: int
    concurrency_used: int

    @staticmethod
    async def build(db: Any, kp: KeyPair, user: User) -> KeyPairNode:
        limit = await db.scalar(
            sa.select(KeyPairResourcePolicy.max_concurrent_sessions).where(
                KeyPairResourcePolicy.name == kp.resource_policy
            )
        )
        used = await db.scalar(
            sa.select(sa.func.count())
            .select_from(Session)
            .where(Session.access_key == kp.access_key, Session.status.in_(_LIVE))
        )
        return KeyPairNode(
            user_id=kp.user_id,
            access_key=kp.access_key,
            secret_key=kp.secret_key,
            is_active=kp.is_active,
            is_admin=kp.is_admin,
            resource_policy=kp.resource_policy,
            created_at=kp.created_at,
            modified_at=kp.modified_at,
            last_used=kp.last_used,
            rate_limit=kp.rate_limit,
            num_queries=kp.num_queries,
            ssh_public_key=kp.ssh_public_key,
            user_info=UserInfo(email=user.email, full_name=user.full_name),
            concurrency_limit=limit or 0,
            concurrency_used=used or 0,
        )


@strawberry.type
class KeyPairList:
    items: list[KeyPairNode]
    total_count: int


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


@strawberry.type
class DomainNode:
    name: str
    description: str | None
    is_active: bool
    created_at: datetime
    modified_at: datetime | None
    total_resource_slots: JSONString
    allowed_vfolder_hosts: list[str]
    allowed_docker_registries: list[str]
    integration_id: str | None
    scaling_groups: list[str]

    @staticmethod
    def build(d: Domain, scaling_groups: list[str]) -> DomainNode:
        return DomainNode(
            name=d.name,
            description=d.description,
            is_active=d.is_active,
            created_at=d.created_at,
            modified_at=d.modified_at,
            total_resource_slots=JSONString(d.total_resource_slots),
            allowed_vfolder_hosts=sorted(d.allowed_vfolder_hosts),
            allowed_docker_registries=d.allowed_docker_registries,
            integration_id=d.integration_id,
            scaling_groups=scaling_groups,
        )


@strawberry.type
class GroupNode:
    id: uuid.UUID
    name: str
    description: str | None
    is_active: bool
    created_at: datetime
    modified_at: datetime | None
    domain_name: str
    total_resource_slots: JSONString
    allowed_vfolder_hosts: list[str]
    integration_id: str | None
    resource_policy: str | None

    @staticmethod
    def build(g: Group) -> GroupNode:
        return GroupNode(
            id=g.id,
            name=g.name,
            description=g.description,
            is_active=g.is_active,
            created_at=g.created_at,
            modified_at=g.modified_at,
            domain_name=g.domain_name,
            total_resource_slots=JSONString(g.total_resource_slots),
            allowed_vfolder_hosts=sorted(g.allowed_vfolder_hosts),
            integration_id=g.integration_id,
            resource_policy=g.resource_policy,
        )


def _ctx(info: Info[GQLContext, None]) -> GQLContext:
    return info.context


def _page(limit: int, offset: int) -> tuple[int, int]:
    if limit < 0 or offset < 0:
        raise PermissionDenied("limit and offset must not be negative.")
    return min(limit, 1000), offset


def _keypair_scope(
    ctx: GQLContext, domain_name: str | None, email: str | None
) -> sa.Select[KeyPair, User]:
    q = sa.select(KeyPair, User).join(User, User.uuid == KeyPair.user)
    p = ctx.principal
    if p.is_superadmin:
        if domain_name:
            q = q.where(User.domain_name == domain_name)
    elif p.is_domain_admin:
        q = q.where(User.domain_name == ctx.visible_domain(domain_name))
    else:
        if email is not None and email != p.email:
            raise PermissionDenied("You may only list your own keypairs.")
        q = q.where(KeyPair.user == p.user_uuid)
    if email is not None:
        q = q.where(KeyPair.user_id == email)
    return q


async def resolve_keypair(
    info: Info[GQLContext, None], domain_name: str | None = None, access_key: str | None = None
) -> KeyPairNode:
    ctx = _ctx(info)
    key = access_key or ctx.principal.access_key
    if key != ctx.principal.access_key:
        ctx.require_admin()
    row = (
        await ctx.db.execute(
            _keypair_scope(ctx, domain_name, None).where(KeyPair.access_key == key)
        )
    ).one_or_none()
    if row is None:
        raise KeypairNotFound(f"No keypair {key} that you may see.")
    return await KeyPairNode.build(ctx.db, row[0], row[1])


async def resolve_keypair_list(
    info: Info[GQLContext, None],
    limit: int,
    offset: int,
    domain_name: str | None = None,
    email: str | None = None,
    is_active: bool | None = None,
    filter: str | None = None,
    order: str | None = None,
) -> KeyPairList:
    ctx = _ctx(info)
    limit, offset = _page(limit, offset)
    q = _keypair_scope(ctx, domain_name, email)
    if is_active is not None:
        q = q.where(KeyPair.is_active.is_(is_active))
    total = await ctx.db.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    rows = (
        await ctx.db.execute(
            q.order_by(KeyPair.created_at, KeyPair.access_key).limit(limit).offset(offset)
        )
    ).all()
    return KeyPairList(
        items=[await KeyPairNode.build(ctx.db, kp, u) for kp, u in rows], total_count=total or 0
    )


async def resolve_keypairs(
    info: Info[GQLContext, None],
    domain_name: str | None = None,
    email: str | None = None,
    is_active: bool | None = None,
) -> list[KeyPairNode]:
    result = await resolve_keypair_list(info, 1000, 0, domain_name, email, is_active)
    return result.items


def _user_scope(ctx: GQLContext, domain_name: str | None) -> sa.Select[User]:
    ctx.require_admin()
    q = sa.select(User)
    domain = ctx.visible_domain(domain_name)
    return q.where(User.domain_name == domain) if domain else q


async def resolve_user(
    info: Info[GQLContext, None], domain_name: str | None = None, email: str | None = None
) -> UserNode:
    ctx = _ctx(info)
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
    ctx = _ctx(info)
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
    ctx = _ctx(info)
    limit, offset = _page(limit, offset)
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


async def _domain_node(ctx: GQLContext, domain: Domain) -> DomainNode:
    from backendai.manager.db.models import ScalingGroupForDomain

    names = (
        (
            await ctx.db.execute(
                sa.select(ScalingGroupForDomain.scaling_group)
                .where(ScalingGroupForDomain.domain == domain.name)
                .order_by(ScalingGroupForDomain.scaling_group)
            )
        )
        .scalars()
        .all()
    )
    return DomainNode.build(domain, list(names))


async def resolve_domain(info: Info[GQLContext, None], name: str | None = None) -> DomainNode:
    ctx = _ctx(info)
    target = name or ctx.principal.domain_name
    ctx.visible_domain(target)
    domain = await ctx.db.get(Domain, target)
    if domain is None:
        raise DomainNotFound(f"No domain {target}.")
    return await _domain_node(ctx, domain)


async def resolve_domains(
    info: Info[GQLContext, None], is_active: bool | None = None
) -> list[DomainNode]:
    ctx = _ctx(info)
    ctx.require_superadmin()
    q = sa.select(Domain).order_by(Domain.name)
    if is_active is not None:
        q = q.where(Domain.is_active.is_(is_active))
    return [await _domain_node(ctx, d) for d in (await ctx.db.execute(q)).scalars().all()]


def _group_scope(ctx: GQLContext, domain_name: str | None) -> sa.Select[Group]:
    q = sa.select(Group)
    p = ctx.principal
    domain = ctx.visible_domain(domain_name)
    if domain:
        q = q.where(Group.domain_name == domain)
    if not p.is_domain_admin:
        q = q.join(GroupMembership, GroupMembership.group_id == Group.id).where(
            GroupMembership.user_id == p.user_uuid
        )
    return q


async def resolve_group(
    info: Info[GQLContext, None], id: uuid.UUID, domain_name: str | None = None
) -> GroupNode:
    ctx = _ctx(info)
    group = (
        await ctx.db.execute(_group_scope(ctx, domain_name).where(Group.id == id))
    ).scalar_one_or_none()
    if group is None:
        raise GroupNotFound(f"No group {id} that you may see.")
    return GroupNode.build(group)


async def resolve_groups(
    info: Info[GQLContext, None], domain_name: str | None = None, is_active: bool | None = None
) -> list[GroupNode]:
    ctx = _ctx(info)
    q = _group_scope(ctx, domain_name).order_by(Group.name)
    if is_active is not None:
        q = q.where(Group.is_active.is_(is_active))
    return [GroupNode.build(g) for g in (await ctx.db.execute(q)).scalars().all()]
