"""GraphQL keypair queries (``admin keypair(s)``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import strawberry
from strawberry.types import Info

from backendai.common.errors import (
    KeypairNotFound,
    PermissionDenied,
)
from backendai.common.statuses import SessionStatus
from backendai.manager.db.models import (
    KeyPair,
    KeyPairResourcePolicy,
    Session,
    User,
)
from backendai.manager.gql.context import GQLContext, page

_LIVE = [s for s in SessionStatus if s not in (SessionStatus.TERMINATED, SessionStatus.CANCELLED)]


@strawberry.type
class UserInfo:
    email: str | None
    full_name: str | None


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
    ctx = info.context
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
    ctx = info.context
    limit, offset = page(limit, offset)
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
