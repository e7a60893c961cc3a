"""GraphQL resource presets: ``resource_preset(s)`` and create/modify/delete, in the shapes of
Backend.AI's manager (its client lists presets over REST: ``GET /resource/presets``)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from backendai.manager.db.models import ResourcePreset
from backendai.manager.gql.context import GQLContext
from backendai.manager.gql.mutating import committed, props_of
from backendai.manager.gql.scalars import JSONString
from backendai.manager.services import presets as service
from backendai.manager.services.presets import PresetProps


@strawberry.type
class ResourcePresetNode:
    name: str
    resource_slots: JSONString
    shared_memory: str | None

    @staticmethod
    def build(p: ResourcePreset) -> ResourcePresetNode:
        shm = None if p.shared_memory is None else str(p.shared_memory)
        return ResourcePresetNode(
            name=p.name, resource_slots=JSONString(dict(p.resource_slots)), shared_memory=shm
        )


@strawberry.input
class CreateResourcePresetInput:
    resource_slots: JSONString
    shared_memory: str | None = None


@strawberry.input
class ModifyResourcePresetInput:
    resource_slots: JSONString | None = None
    shared_memory: str | None = None


@strawberry.type
class CreateResourcePreset:
    ok: bool
    msg: str
    resource_preset: ResourcePresetNode | None


@strawberry.type
class ResourcePresetResult:
    ok: bool
    msg: str


async def resolve_resource_presets(info: Info[GQLContext, None]) -> list[ResourcePresetNode]:
    ctx = info.context
    rows = await service.list_presets(ctx.db, ctx.principal)
    return [ResourcePresetNode.build(p) for p in ctx.charge(rows)]


async def resolve_resource_preset(info: Info[GQLContext, None], name: str) -> ResourcePresetNode:
    for node in await resolve_resource_presets(info):
        if node.name == name:
            return node
    raise service.preset_not_found(name)


@strawberry.type
class PresetQuery:
    resource_preset: ResourcePresetNode = strawberry.field(resolver=resolve_resource_preset)
    resource_presets: list[ResourcePresetNode] = strawberry.field(resolver=resolve_resource_presets)


@strawberry.type
class PresetMutation:
    @strawberry.mutation
    async def create_resource_preset(
        self, info: Info[GQLContext, None], name: str, props: CreateResourcePresetInput
    ) -> CreateResourcePreset:
        ctx = info.context
        preset = await committed(
            ctx, service.create(ctx.db, ctx.principal, name, props_of(PresetProps, props))
        )
        node = ResourcePresetNode.build(preset)
        return CreateResourcePreset(ok=True, msg="success", resource_preset=node)

    @strawberry.mutation
    async def modify_resource_preset(
        self, info: Info[GQLContext, None], name: str, props: ModifyResourcePresetInput
    ) -> ResourcePresetResult:
        ctx = info.context
        await committed(
            ctx, service.modify(ctx.db, ctx.principal, name, props_of(PresetProps, props))
        )
        return ResourcePresetResult(ok=True, msg="success")

    @strawberry.mutation
    async def delete_resource_preset(
        self, info: Info[GQLContext, None], name: str
    ) -> ResourcePresetResult:
        ctx = info.context
        await committed(ctx, service.delete(ctx.db, ctx.principal, name))
        return ResourcePresetResult(ok=True, msg="success")
