"""GraphQL storage volumes: ``storage_volume`` and ``storage_volume_list`` (``admin storage``,
``admin storage-list``)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from backendai.common.errors import ServiceUnavailable
from backendai.manager.gql.context import GQLContext, page
from backendai.manager.gql.scalars import JSONString
from backendai.manager.services import storage_volumes as service
from backendai.manager.services.storage_volumes import StorageVolume
from backendai.manager.storage_client import StorageClient


@strawberry.type
class StorageVolumeNode:
    id: str
    backend: str
    path: str
    fsprefix: str
    capabilities: list[str]
    hardware_metadata: JSONString
    performance_metric: JSONString
    usage: JSONString

    @staticmethod
    def build(v: StorageVolume) -> StorageVolumeNode:
        return StorageVolumeNode(
            id=v.id, backend=v.backend, path=v.path, fsprefix=v.fsprefix,
            capabilities=list(v.capabilities), hardware_metadata=JSONString(v.hardware_metadata),
            performance_metric=JSONString(v.performance_metric), usage=JSONString(v.usage),
        )  # fmt: skip


@strawberry.type
class StorageVolumeList:
    items: list[StorageVolumeNode]
    total_count: int


def _storage(ctx: GQLContext) -> StorageClient:
    if ctx.manager is None:
        raise ServiceUnavailable("The storage process is not configured here.")
    return ctx.manager.storage


async def resolve_storage_volume(info: Info[GQLContext, None], id: str) -> StorageVolumeNode:
    ctx = info.context
    volume = await service.get_volume(ctx.principal, _storage(ctx), id)
    return StorageVolumeNode.build(volume)


async def resolve_storage_volume_list(
    info: Info[GQLContext, None],
    limit: int,
    offset: int,
    filter: str | None = None,
    order: str | None = None,
) -> StorageVolumeList:
    ctx = info.context
    limit, offset = page(limit, offset)
    volumes = await service.list_volumes(ctx.principal, _storage(ctx))
    shown = ctx.charge(volumes[offset : offset + limit])
    return StorageVolumeList(
        items=[StorageVolumeNode.build(v) for v in shown], total_count=len(volumes)
    )


@strawberry.type
class StorageQuery:
    storage_volume: StorageVolumeNode = strawberry.field(resolver=resolve_storage_volume)
    storage_volume_list: StorageVolumeList = strawberry.field(resolver=resolve_storage_volume_list)
