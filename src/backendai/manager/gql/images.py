"""GraphQL images: ``images`` and ``image`` (``admin images``), and the mutations
``rescan_images``, ``alias_image``, ``dealias_image`` as Backend.AI's client 20.9.9 sends them,
plus ``delete_image`` (a private image) of ours.

``name`` is the repository without the registry (``backendai/python``), as Backend.AI's; the
full name a session takes is ``name:tag`` (with ``registry/`` before it for a remote one).
"""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from backendai.common.errors import ServiceUnavailable
from backendai.common.image_labels import LABEL_ACCELERATORS
from backendai.manager.agent_client import AgentClient
from backendai.manager.gql.context import GQLContext
from backendai.manager.gql.scalars import BigInt
from backendai.manager.services import image_admin, images
from backendai.manager.services.image_admin import ImageView


@strawberry.type
class ImageLabel:
    key: str
    value: str


@strawberry.type
class ImageResourceLimit:
    key: str
    min: str | None
    max: str | None


@strawberry.type
class ImageNode:
    name: str
    humanized_name: str
    tag: str
    registry: str
    architecture: str
    digest: str
    hash: str
    size_bytes: BigInt
    labels: list[ImageLabel]
    aliases: list[str]
    resource_limits: list[ImageResourceLimit]
    supported_accelerators: list[str]
    installed: bool
    installed_agents: list[str]
    is_private: bool
    owner: str | None  # the owner's email (a private image)
    owner_group: str | None  # the group whose members may use it too

    @classmethod
    def of(cls, view: ImageView) -> ImageNode:
        img = view.image
        limits = [
            ImageResourceLimit(key=slot, min=spec.get("min"), max=spec.get("max"))
            for slot, spec in sorted(img.resources.items())
            if isinstance(spec, dict)
        ]
        return cls(
            name=img.image,
            humanized_name=img.image.rsplit("/", 1)[-1],
            tag=img.tag,
            registry=img.registry_name,
            architecture=img.architecture,
            digest=img.config_digest,
            hash=img.config_digest,
            size_bytes=BigInt(img.size_bytes),
            labels=[ImageLabel(key=k, value=v) for k, v in sorted(img.labels.items())],
            aliases=view.aliases,
            resource_limits=limits,
            supported_accelerators=[
                a for a in img.labels.get(LABEL_ACCELERATORS, "").split(",") if a
            ],
            installed=bool(view.installed_agents),
            installed_agents=view.installed_agents,
            is_private=img.owner_user is not None,
            owner=view.owner_email or (str(img.owner_user) if img.owner_user else None),
            owner_group=view.owner_group_name,
        )


@strawberry.type
class ImageResult:
    ok: bool
    msg: str


@strawberry.type
class RescanImagesResult:
    ok: bool
    msg: str
    task_id: str | None


async def resolve_images(
    info: Info[GQLContext, None],
    is_installed: bool | None = None,
    is_operation: bool | None = False,
) -> list[ImageNode]:
    ctx = info.context
    views = await image_admin.list_images(ctx.db, ctx.principal, is_operation)
    if is_installed is not None:
        views = [v for v in views if bool(v.installed_agents) is is_installed]
    return [ImageNode.of(v) for v in ctx.charge(views)]


async def resolve_image(
    info: Info[GQLContext, None], reference: str, architecture: str | None = None
) -> ImageNode:
    ctx = info.context
    img = await images.resolve(ctx.db, reference, ctx.principal)
    arch = architecture or img.architecture
    views = await image_admin.list_images(ctx.db, ctx.principal, None)
    found = [v for v in views if v.image.name == img.name and v.image.architecture == arch]
    return ImageNode.of(found[0] if found else ImageView(img))


def _agents(ctx: GQLContext) -> AgentClient:
    if ctx.manager is None:
        raise ServiceUnavailable("Agents cannot be reached from here.")
    return ctx.manager.agent_client


@strawberry.type
class ImageQuery:
    images: list[ImageNode] = strawberry.field(resolver=resolve_images)
    image: ImageNode = strawberry.field(resolver=resolve_image)


@strawberry.type
class ImageMutation:
    @strawberry.mutation
    async def rescan_images(
        self, info: Info[GQLContext, None], registry: str | None = None
    ) -> RescanImagesResult:
        ctx = info.context
        result = await image_admin.rescan(ctx.db, ctx.principal, _agents(ctx), registry)
        return RescanImagesResult(
            ok=not result.failed, msg=f"Rescanned {result.message}.", task_id=str(uuid.uuid4())
        )

    @strawberry.mutation
    async def alias_image(
        self, info: Info[GQLContext, None], alias: str, target: str
    ) -> ImageResult:
        ctx = info.context
        img = await image_admin.alias_image(ctx.db, ctx.principal, alias, target)
        return ImageResult(ok=True, msg=f"{alias} -> {img.name}")

    @strawberry.mutation
    async def dealias_image(self, info: Info[GQLContext, None], alias: str) -> ImageResult:
        ctx = info.context
        await image_admin.dealias_image(ctx.db, ctx.principal, alias)
        return ImageResult(ok=True, msg=f"The alias {alias} is removed.")

    @strawberry.mutation
    async def delete_image(self, info: Info[GQLContext, None], reference: str) -> ImageResult:
        ctx = info.context
        img = await image_admin.delete_image(ctx.db, ctx.principal, _agents(ctx), reference)
        return ImageResult(ok=True, msg=f"The image {img.name} is removed.")
