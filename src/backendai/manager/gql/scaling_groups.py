"""GraphQL scaling groups: ``scaling_group(s)``, create/modify/delete and the associations with
domains, groups (``user_group``) and keypairs, as Backend.AI's client 20.9.9 sends them."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
import strawberry
from strawberry.types import Info

from backendai.common.errors import InvalidRequest
from backendai.manager.authz import Action, Resource
from backendai.manager.db.models import ScalingGroup
from backendai.manager.gql.context import GQLContext
from backendai.manager.gql.mutating import committed, props_of
from backendai.manager.gql.scalars import JSONString
from backendai.manager.services import scaling_groups as service
from backendai.manager.services.scaling_group_capacity import (
    Capacities,
    GroupCapacity,
    capacities,
    parse_status,
)
from backendai.manager.services.scaling_groups import ScalingGroupProps


def _agent_count(root: ScalingGroupNode, status: str = "ALIVE") -> int:
    return root.capacity_in(status).agent_count


def _agent_slots(root: ScalingGroupNode, status: str = "ALIVE") -> JSONString:
    return JSONString(root.capacity_in(status).to_json())


@strawberry.type
class ScalingGroupNode:
    name: str
    description: str | None
    is_active: bool
    created_at: datetime
    wsproxy_addr: str | None
    driver: str
    driver_opts: JSONString
    scheduler: str
    scheduler_opts: JSONString
    capacity: strawberry.Private[Capacities] = strawberry.field(default_factory=dict)
    agent_count_by_status: int = strawberry.field(
        resolver=_agent_count, description="How many agents of this status the group has."
    )
    agent_total_resource_slots_by_status: JSONString = strawberry.field(
        resolver=_agent_slots,
        description="The group's capacity and occupancy: the sums of the available_slots and "
        "occupied_slots of its agents of this status.",
    )

    def capacity_in(self, status: str) -> GroupCapacity:
        try:
            wanted = parse_status(status)
        except ValueError as e:
            raise InvalidRequest(str(e)) from None
        return self.capacity.get(self.name, {}).get(wanted) or GroupCapacity()

    @staticmethod
    def build(g: ScalingGroup, capacity: Capacities | None = None) -> ScalingGroupNode:
        return ScalingGroupNode(
            name=g.name, description=g.description, is_active=g.is_active,
            created_at=g.created_at, wsproxy_addr=g.wsproxy_addr, driver=g.driver,
            driver_opts=JSONString(dict(g.driver_opts)), scheduler=g.scheduler,
            scheduler_opts=JSONString(dict(g.scheduler_opts)), capacity=capacity or {},
        )  # fmt: skip


@strawberry.input
class CreateScalingGroupInput:
    description: str | None = ""
    is_active: bool | None = True
    wsproxy_addr: str | None = None
    driver: str | None = "static"
    driver_opts: JSONString | None = None
    scheduler: str | None = "fifo"
    scheduler_opts: JSONString | None = None


@strawberry.input
class ModifyScalingGroupInput:
    description: str | None = None
    is_active: bool | None = None
    wsproxy_addr: str | None = None
    driver: str | None = None
    driver_opts: JSONString | None = None
    scheduler: str | None = None
    scheduler_opts: JSONString | None = None


@strawberry.type
class CreateScalingGroup:
    ok: bool
    msg: str
    scaling_group: ScalingGroupNode | None


@strawberry.type
class ScalingGroupResult:
    """The answer of a mutation that returns nothing else (``ok msg``)."""

    ok: bool
    msg: str


_OK = ScalingGroupResult(ok=True, msg="success")


async def resolve_scaling_group(
    info: Info[GQLContext, None], name: str | None = None
) -> ScalingGroupNode | None:
    found = await resolve_scaling_groups(info, name=name)
    if not found:
        raise service.not_found(name or "")
    return found[0]


async def resolve_scaling_groups(
    info: Info[GQLContext, None], name: str | None = None, is_active: bool | None = None
) -> list[ScalingGroupNode]:
    """The scaling groups the caller reaches: all for a superadmin or monitor, those of its
    domain for a domain admin, those it may start sessions in for a user."""
    ctx = info.context
    q = (
        sa.select(ScalingGroup)
        .where(ctx.visible(Resource.SCALING_GROUP, Action.LIST))
        .order_by(ScalingGroup.name)
    )
    if name is not None:
        q = q.where(ScalingGroup.name == name)
    if is_active is not None:
        q = q.where(ScalingGroup.is_active.is_(is_active))
    rows = ctx.charge(list(await ctx.db.scalars(q)))
    capacity = await capacities(ctx.db, [g.name for g in rows])
    return [ScalingGroupNode.build(g, capacity) for g in rows]


@strawberry.type
class ScalingGroupQuery:
    scaling_group: ScalingGroupNode | None = strawberry.field(resolver=resolve_scaling_group)
    scaling_groups: list[ScalingGroupNode] = strawberry.field(resolver=resolve_scaling_groups)


@strawberry.type
class ScalingGroupMutation:
    @strawberry.mutation
    async def create_scaling_group(
        self, info: Info[GQLContext, None], name: str, props: CreateScalingGroupInput
    ) -> CreateScalingGroup:
        ctx = info.context
        group = await committed(
            ctx, service.create(ctx.db, ctx.principal, name, props_of(ScalingGroupProps, props))
        )
        return CreateScalingGroup(
            ok=True, msg="success", scaling_group=ScalingGroupNode.build(group)
        )

    @strawberry.mutation
    async def modify_scaling_group(
        self, info: Info[GQLContext, None], name: str, props: ModifyScalingGroupInput
    ) -> ScalingGroupResult:
        ctx = info.context
        await committed(
            ctx, service.modify(ctx.db, ctx.principal, name, props_of(ScalingGroupProps, props))
        )
        return _OK

    @strawberry.mutation
    async def delete_scaling_group(
        self, info: Info[GQLContext, None], name: str
    ) -> ScalingGroupResult:
        ctx = info.context
        await committed(ctx, service.delete(ctx.db, ctx.principal, name))
        return _OK

    @strawberry.mutation
    async def associate_scaling_group_with_domain(
        self, info: Info[GQLContext, None], scaling_group: str, domain: str
    ) -> ScalingGroupResult:
        ctx = info.context
        await committed(
            ctx, service.associate(ctx.db, ctx.principal, scaling_group, "domain", domain)
        )
        return _OK

    @strawberry.mutation
    async def disassociate_scaling_group_with_domain(
        self, info: Info[GQLContext, None], scaling_group: str, domain: str
    ) -> ScalingGroupResult:
        ctx = info.context
        await committed(
            ctx, service.dissociate(ctx.db, ctx.principal, scaling_group, "domain", domain)
        )
        return _OK

    @strawberry.mutation
    async def disassociate_all_scaling_groups_with_domain(
        self, info: Info[GQLContext, None], domain: str
    ) -> ScalingGroupResult:
        ctx = info.context
        await committed(ctx, service.dissociate(ctx.db, ctx.principal, None, "domain", domain))
        return _OK

    @strawberry.mutation
    async def associate_scaling_group_with_user_group(
        self, info: Info[GQLContext, None], scaling_group: str, user_group: uuid.UUID
    ) -> ScalingGroupResult:
        ctx = info.context
        await committed(
            ctx, service.associate(ctx.db, ctx.principal, scaling_group, "group", user_group)
        )
        return _OK

    @strawberry.mutation
    async def disassociate_scaling_group_with_user_group(
        self, info: Info[GQLContext, None], scaling_group: str, user_group: str
    ) -> ScalingGroupResult:
        """``user_group`` is a String here: Backend.AI's client declares it so."""
        ctx = info.context
        await committed(
            ctx, service.dissociate(ctx.db, ctx.principal, scaling_group, "group", user_group)
        )
        return _OK

    @strawberry.mutation
    async def disassociate_all_scaling_groups_with_group(
        self, info: Info[GQLContext, None], user_group: uuid.UUID
    ) -> ScalingGroupResult:
        ctx = info.context
        await committed(ctx, service.dissociate(ctx.db, ctx.principal, None, "group", user_group))
        return _OK

    @strawberry.mutation
    async def associate_scaling_group_with_keypair(
        self, info: Info[GQLContext, None], scaling_group: str, access_key: str
    ) -> ScalingGroupResult:
        ctx = info.context
        await committed(
            ctx, service.associate(ctx.db, ctx.principal, scaling_group, "keypair", access_key)
        )
        return _OK

    @strawberry.mutation
    async def disassociate_scaling_group_with_keypair(
        self, info: Info[GQLContext, None], scaling_group: str, access_key: str
    ) -> ScalingGroupResult:
        ctx = info.context
        await committed(
            ctx, service.dissociate(ctx.db, ctx.principal, scaling_group, "keypair", access_key)
        )
        return _OK
