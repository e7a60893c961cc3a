"""GraphQL domain and group (project) queries."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import strawberry
from strawberry.types import Info

from backendai.common.errors import DomainNotFound, GroupNotFound
from backendai.common.vfolders import format_host_grants
from backendai.manager import authz
from backendai.manager.authz import Action, Resource
from backendai.manager.db.models import Domain, Group, ScalingGroupForDomain, ScalingGroupForGroup
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
            allowed_vfolder_hosts=format_host_grants(d.allowed_vfolder_hosts),
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
    scaling_groups: list[str]

    @staticmethod
    def build(g: Group, scaling_groups: list[str]) -> GroupNode:
        return GroupNode(
            id=g.id,
            name=g.name,
            description=g.description,
            is_active=g.is_active,
            created_at=g.created_at,
            modified_at=g.modified_at,
            domain_name=g.domain_name,
            total_resource_slots=JSONString(g.total_resource_slots),
            allowed_vfolder_hosts=format_host_grants(g.allowed_vfolder_hosts),
            integration_id=g.integration_id,
            resource_policy=g.resource_policy,
            scaling_groups=scaling_groups,
        )


async def _associated(
    ctx: GQLContext, owner: Any, scaling_group: Any, keys: Sequence[Any]
) -> dict[Any, list[str]]:
    """The resource groups associated with each of ``keys`` (domain names or group ids), read
    in one query from the association table whose columns ``owner`` and ``scaling_group``
    are."""
    found: dict[Any, list[str]] = defaultdict(list)
    rows = await ctx.db.execute(
        sa.select(owner, scaling_group).where(owner.in_(keys)).order_by(scaling_group)
    )
    for key, name in rows:
        found[key].append(name)
    return found


async def _domain_nodes(ctx: GQLContext, domains: Sequence[Domain]) -> list[DomainNode]:
    groups = await _associated(
        ctx, ScalingGroupForDomain.domain, ScalingGroupForDomain.scaling_group,
        [d.name for d in domains],
    )  # fmt: skip
    return [DomainNode.build(d, groups[d.name]) for d in domains]


async def group_nodes(ctx: GQLContext, groups: Sequence[Group]) -> list[GroupNode]:
    found = await _associated(
        ctx, ScalingGroupForGroup.group, ScalingGroupForGroup.scaling_group,
        [g.id for g in groups],
    )  # fmt: skip
    return [GroupNode.build(g, found[g.id]) for g in groups]


async def resolve_domain(info: Info[GQLContext, None], name: str | None = None) -> DomainNode:
    ctx = info.context
    target = name or ctx.principal.domain_name
    domain = await ctx.db.scalar(
        sa.select(Domain).where(ctx.visible(Resource.DOMAIN, Action.READ), Domain.name == target)
    )
    if domain is None:
        missing = DomainNotFound(f"No domain {target} that you may see.")
        raise authz.absent(ctx.principal, Resource.DOMAIN, Action.READ, missing)
    return (await _domain_nodes(ctx, [domain]))[0]


async def resolve_domains(
    info: Info[GQLContext, None], is_active: bool | None = None
) -> list[DomainNode]:
    ctx = info.context
    q = sa.select(Domain).where(ctx.visible(Resource.DOMAIN, Action.LIST)).order_by(Domain.name)
    if is_active is not None:
        q = q.where(Domain.is_active.is_(is_active))
    return await _domain_nodes(ctx, ctx.charge((await ctx.db.execute(q)).scalars().all()))


def _groups(ctx: GQLContext, action: Action, domain_name: str | None) -> sa.Select[Group]:
    q = sa.select(Group).where(ctx.visible(Resource.GROUP, action, domain_name))
    return q.where(Group.domain_name == domain_name) if domain_name else q


async def resolve_group(
    info: Info[GQLContext, None], id: uuid.UUID, domain_name: str | None = None
) -> GroupNode:
    ctx = info.context
    group = (
        await ctx.db.execute(_groups(ctx, Action.READ, domain_name).where(Group.id == id))
    ).scalar_one_or_none()
    if group is None:
        missing = GroupNotFound(f"No group {id} that you may see.")
        raise authz.absent(ctx.principal, Resource.GROUP, Action.READ, missing)
    return (await group_nodes(ctx, [group]))[0]


async def resolve_groups(
    info: Info[GQLContext, None], domain_name: str | None = None, is_active: bool | None = None
) -> list[GroupNode]:
    ctx = info.context
    q = _groups(ctx, Action.LIST, domain_name).order_by(Group.name)
    if is_active is not None:
        q = q.where(Group.is_active.is_(is_active))
    return await group_nodes(ctx, ctx.charge((await ctx.db.execute(q)).scalars().all()))


async def domain_node(ctx: GQLContext, name: str) -> DomainNode:
    """The domain as a node (a mutation's answer about the domain it changed)."""
    return (await _domain_nodes(ctx, [await ctx.db.get_one(Domain, name)]))[0]
