"""GraphQL domain and group (project) queries."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
import strawberry
from strawberry.types import Info

from backendai.common.errors import (
    DomainNotFound,
    GroupNotFound,
)
from backendai.manager.db.models import (
    Domain,
    Group,
    GroupMembership,
    ScalingGroupForDomain,
)
from backendai.manager.gql.context import GQLContext
from backendai.manager.gql.scalars import JSONString


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


async def _domain_node(ctx: GQLContext, domain: Domain) -> DomainNode:
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
    ctx = info.context
    target = name or ctx.principal.domain_name
    ctx.visible_domain(target)
    domain = await ctx.db.get(Domain, target)
    if domain is None:
        raise DomainNotFound(f"No domain {target}.")
    return await _domain_node(ctx, domain)


async def resolve_domains(
    info: Info[GQLContext, None], is_active: bool | None = None
) -> list[DomainNode]:
    ctx = info.context
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
    ctx = info.context
    group = (
        await ctx.db.execute(_group_scope(ctx, domain_name).where(Group.id == id))
    ).scalar_one_or_none()
    if group is None:
        raise GroupNotFound(f"No group {id} that you may see.")
    return GroupNode.build(group)


async def resolve_groups(
    info: Info[GQLContext, None], domain_name: str | None = None, is_active: bool | None = None
) -> list[GroupNode]:
    ctx = info.context
    q = _group_scope(ctx, domain_name).order_by(Group.name)
    if is_active is not None:
        q = q.where(Group.is_active.is_(is_active))
    return [GroupNode.build(g) for g in (await ctx.db.execute(q)).scalars().all()]
