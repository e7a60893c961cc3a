"""GraphQL domain and group (project) mutations, with the shapes Backend.AI's client 20.9.9
sends (``create_domain(name, props: DomainInput)``, ``modify_group(gid, props:
ModifyGroupInput)`` which also adds and removes members, ...). Answers and refusals as in
``identity_mutations``."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
import strawberry
from strawberry.types import Info

from backendai.common.identity import DomainProps, GroupProps, ModifyDomainProps, ModifyGroupProps
from backendai.manager.db.models import Group
from backendai.manager.gql.context import GQLContext
from backendai.manager.gql.domains import DomainNode, GroupNode, domain_node, group_nodes
from backendai.manager.gql.identity_mutations import SUCCESS, fresh, manager_of
from backendai.manager.gql.mutating import props_of
from backendai.manager.gql.scalars import JSONString
from backendai.manager.services.identity_orgs import DomainService, GroupService


@strawberry.input(name="DomainInput")
class DomainInput:
    description: str | None = None
    is_active: bool | None = None
    total_resource_slots: JSONString | None = None
    allowed_vfolder_hosts: list[str] | None = None
    allowed_docker_registries: list[str] | None = None
    integration_id: str | None = None


@strawberry.input(name="ModifyDomainInput")
class ModifyDomainInput:
    name: str | None = None
    description: str | None = None
    is_active: bool | None = None
    total_resource_slots: JSONString | None = None
    allowed_vfolder_hosts: list[str] | None = None
    allowed_docker_registries: list[str] | None = None
    integration_id: str | None = None


@strawberry.input(name="GroupInput")
class GroupInput:
    description: str | None = None
    is_active: bool | None = None
    domain_name: str | None = None
    total_resource_slots: JSONString | None = None
    allowed_vfolder_hosts: list[str] | None = None
    integration_id: str | None = None


@strawberry.input(name="ModifyGroupInput")
class ModifyGroupInput:
    name: str | None = None
    description: str | None = None
    is_active: bool | None = None
    domain_name: str | None = None
    total_resource_slots: JSONString | None = None
    allowed_vfolder_hosts: list[str] | None = None
    integration_id: str | None = None
    user_update_mode: str | None = None
    user_uuids: list[str] | None = None


@strawberry.type
class CreateDomain:
    ok: bool
    msg: str
    domain: DomainNode | None


@strawberry.type
class ModifyDomain:
    ok: bool
    msg: str
    domain: DomainNode | None


@strawberry.type
class DeleteDomain:
    ok: bool
    msg: str


@strawberry.type
class PurgeDomain:
    ok: bool
    msg: str


@strawberry.type
class CreateGroup:
    ok: bool
    msg: str
    group: GroupNode | None


@strawberry.type
class ModifyGroup:
    ok: bool
    msg: str
    group: GroupNode | None


@strawberry.type
class DeleteGroup:
    ok: bool
    msg: str


@strawberry.type
class PurgeGroup:
    ok: bool
    msg: str


async def _group_node(ctx: GQLContext, gid: uuid.UUID) -> GroupNode:
    group = await ctx.db.scalar(sa.select(Group).where(Group.id == gid))
    assert group is not None
    return (await group_nodes(ctx, [group]))[0]


@strawberry.type
class OrgMutation:
    @strawberry.mutation
    async def create_domain(
        self, info: Info[GQLContext, None], name: str, props: DomainInput
    ) -> CreateDomain:
        ctx = info.context
        service = DomainService(manager_of(ctx).db)
        made = await service.create(ctx.principal, name, props_of(DomainProps, props))
        return CreateDomain(ok=True, msg=SUCCESS, domain=await domain_node(await fresh(ctx), made))

    @strawberry.mutation
    async def modify_domain(
        self, info: Info[GQLContext, None], name: str, props: ModifyDomainInput
    ) -> ModifyDomain:
        ctx = info.context
        service = DomainService(manager_of(ctx).db)
        now = await service.modify(ctx.principal, name, props_of(ModifyDomainProps, props))
        return ModifyDomain(ok=True, msg=SUCCESS, domain=await domain_node(await fresh(ctx), now))

    @strawberry.mutation
    async def delete_domain(self, info: Info[GQLContext, None], name: str) -> DeleteDomain:
        """Inactivate the domain."""
        ctx = info.context
        await DomainService(manager_of(ctx).db).inactivate(ctx.principal, name)
        return DeleteDomain(ok=True, msg=SUCCESS)

    @strawberry.mutation
    async def purge_domain(self, info: Info[GQLContext, None], name: str) -> PurgeDomain:
        ctx = info.context
        await DomainService(manager_of(ctx).db).purge(ctx.principal, name)
        return PurgeDomain(ok=True, msg=SUCCESS)

    @strawberry.mutation
    async def create_group(
        self, info: Info[GQLContext, None], name: str, props: GroupInput
    ) -> CreateGroup:
        ctx = info.context
        service = GroupService(manager_of(ctx).db)
        made = await service.create(ctx.principal, name, props_of(GroupProps, props))
        return CreateGroup(ok=True, msg=SUCCESS, group=await _group_node(await fresh(ctx), made))

    @strawberry.mutation
    async def modify_group(
        self, info: Info[GQLContext, None], gid: uuid.UUID, props: ModifyGroupInput
    ) -> ModifyGroup:
        ctx = info.context
        service = GroupService(manager_of(ctx).db)
        await service.modify(ctx.principal, gid, props_of(ModifyGroupProps, props))
        return ModifyGroup(ok=True, msg=SUCCESS, group=await _group_node(await fresh(ctx), gid))

    @strawberry.mutation
    async def delete_group(self, info: Info[GQLContext, None], gid: uuid.UUID) -> DeleteGroup:
        """Inactivate the group (it stays, for safety)."""
        ctx = info.context
        await GroupService(manager_of(ctx).db).inactivate(ctx.principal, gid)
        return DeleteGroup(ok=True, msg=SUCCESS)

    @strawberry.mutation
    async def purge_group(self, info: Info[GQLContext, None], gid: uuid.UUID) -> PurgeGroup:
        ctx = info.context
        await GroupService(manager_of(ctx).db).purge(ctx.principal, gid)
        return PurgeGroup(ok=True, msg=SUCCESS)
