"""GraphQL keypair queries (``admin keypair(s)``).

Who sees which keypair, and whose secret key, is the authorization table's: a secret key is
shown to its owner and to superadmins only; everyone else reads ``secret_key: null`` (the field
stays, because Backend.AI's client asks for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
import strawberry
from strawberry.types import Info

from backendai.common.errors import KeypairNotFound
from backendai.common.statuses import SessionStatus
from backendai.manager import authz
from backendai.manager.authz import Action, Resource, Target
from backendai.manager.db.models import (
    KeyPair,
    KeyPairResourcePolicy,
    Session,
    User,
)
from backendai.manager.gql.context import MAX_PAGE, GQLContext, page
from backendai.manager.gql.list_filters import filtered

_LIVE = [s for s in SessionStatus if s not in (SessionStatus.TERMINATED, SessionStatus.CANCELLED)]


@strawberry.type
class UserInfo:
    email: str | None
    full_name: str | None


@strawberry.type
class KeyPairNode:
    user_id: str
    access_key: str
    secret_key: str | None
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


@strawberry.type
class KeyPairList:
    items: list[KeyPairNode]
    total_count: int


async def _nodes(ctx: GQLContext, rows: Sequence[tuple[KeyPair, User]]) -> list[KeyPairNode]:
    """The rows as nodes, with their policies' limits and live session counts read in two
    queries for the whole page."""
    keys = [kp.access_key for kp, _ in rows]
    limits = dict(
        (
            await ctx.db.execute(
                sa.select(KeyPairResourcePolicy.name, KeyPairResourcePolicy.max_concurrent_sessions)
            )
        ).all()
    )
    used = dict(
        (
            await ctx.db.execute(
                sa.select(Session.access_key, sa.func.count())
                .where(Session.access_key.in_(keys), Session.status.in_(_LIVE))
                .group_by(Session.access_key)
            )
        ).all()
    )
    nodes = []
    for kp, user in rows:
        owner = Target.owned_by(user.uuid, user.domain_name, user.role)
        shows_secret = authz.permits(ctx.principal, Resource.KEYPAIR, Action.READ_SECRET, owner)
        nodes.append(
            KeyPairNode(
                user_id=kp.user_id,
                access_key=kp.access_key,
                secret_key=kp.secret_key if shows_secret else None,
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
                concurrency_limit=limits.get(kp.resource_policy) or 0,
                concurrency_used=used.get(kp.access_key, 0),
            )
        )
    return nodes


def _scope(
    ctx: GQLContext, action: Action, domain_name: str | None, email: str | None
) -> sa.Select[KeyPair, User]:
    q = (
        sa.select(KeyPair, User)
        .join(User, User.uuid == KeyPair.user)
        .where(ctx.visible(Resource.KEYPAIR, action, domain_name))
    )
    if domain_name:
        q = q.where(User.domain_name == domain_name)
    if email is not None:
        q = q.where(KeyPair.user_id == email)
    return q


async def resolve_keypair(
    info: Info[GQLContext, None], domain_name: str | None = None, access_key: str | None = None
) -> KeyPairNode:
    ctx = info.context
    key = access_key or ctx.principal.access_key
    q = _scope(ctx, Action.READ, domain_name, None).where(KeyPair.access_key == key)
    row = (await ctx.db.execute(q)).one_or_none()
    if row is None:
        missing = KeypairNotFound(f"No keypair {key} that you may see.")
        raise authz.absent(ctx.principal, Resource.KEYPAIR, Action.READ, missing)
    return (await _nodes(ctx, [row]))[0]


# What ``filter`` and ``order`` may name: what the list shows (never the secret or SSH keys).
KEYPAIR_FIELDS = {
    "access_key": KeyPair.access_key,
    "user_id": KeyPair.user_id,
    "is_active": KeyPair.is_active,
    "is_admin": KeyPair.is_admin,
    "resource_policy": KeyPair.resource_policy,
    "rate_limit": KeyPair.rate_limit,
    "num_queries": KeyPair.num_queries,
    "created_at": KeyPair.created_at,
    "modified_at": KeyPair.modified_at,
    "last_used": KeyPair.last_used,
}


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
    q = _scope(ctx, Action.LIST, domain_name, email)
    if is_active is not None:
        q = q.where(KeyPair.is_active.is_(is_active))
    q, ordered = filtered(
        q, KEYPAIR_FIELDS, filter, order, (KeyPair.created_at, KeyPair.access_key)
    )
    total = await ctx.db.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    rows = (await ctx.db.execute(ordered.limit(limit).offset(offset))).all()
    return KeyPairList(items=await _nodes(ctx, ctx.charge(rows)), total_count=total or 0)


async def resolve_keypairs(
    info: Info[GQLContext, None],
    domain_name: str | None = None,
    email: str | None = None,
    is_active: bool | None = None,
) -> list[KeyPairNode]:
    result = await resolve_keypair_list(info, MAX_PAGE, 0, domain_name, email, is_active)
    return result.items


async def keypair_node(ctx: GQLContext, access_key: str) -> KeyPairNode:
    """The keypair as a node, its secret shown as ``READ_SECRET`` allows."""
    row = (
        await ctx.db.execute(
            sa.select(KeyPair, User)
            .join(User, User.uuid == KeyPair.user)
            .where(KeyPair.access_key == access_key)
        )
    ).one()
    return (await _nodes(ctx, [(row[0], row[1])]))[0]
