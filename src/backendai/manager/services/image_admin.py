"""Administering images: the list (with aliases, the agents that have each, its owner),
aliases, rescanning the agents' Docker Engines and configured registries, removing private
images.

Everything that changes public images is the superadmin's (the table's IMAGE CREATE, UPDATE);
a private image is removed by its owner or an admin who reaches it (IMAGE DELETE).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import AgentError, ImageNotFound, InvalidRequest, NotFound
from backendai.common.image_labels import LABEL_FEATURES
from backendai.common.statuses import AgentStatus
from backendai.manager import authz
from backendai.manager.agent_client import AgentClient
from backendai.manager.authz import Action, Actor, Resource
from backendai.manager.db.models import Agent, Group, Image, ImageAlias, User
from backendai.manager.services import image_access, images, registry_scan

log = logging.getLogger(__name__)

ALIAS_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,255}$")
RESCAN_TIMEOUT = 30.0  # seconds an agent has to list its images


@dataclass
class ImageView:
    image: Image
    aliases: list[str] = field(default_factory=list)
    installed_agents: list[str] = field(default_factory=list)
    owner_email: str | None = None
    owner_group_name: str | None = None

    @property
    def is_operation(self) -> bool:
        return "operation" in self.image.labels.get(LABEL_FEATURES, "")


async def list_images(
    db: AsyncSession, actor: Actor, is_operation: bool | None = None
) -> list[ImageView]:
    """The images the actor may see; ``is_operation``: only (or no) operational images."""
    rows = list(
        await db.scalars(
            sa.select(Image)
            .where(image_access.visible(actor, Action.LIST))
            .order_by(Image.name, Image.architecture)
        )
    )
    views = {img.id: ImageView(img) for img in rows}
    for alias, image_id in (
        await db.execute(
            sa.select(ImageAlias.alias, ImageAlias.image_id).where(
                ImageAlias.image_id.in_(list(views))
            )
        )
    ).all():
        views[image_id].aliases.append(alias)
    by_name: dict[str, list[str]] = defaultdict(list)
    for agent_id, names in (
        await db.execute(sa.select(Agent.id, Agent.images).where(Agent.status == AgentStatus.ALIVE))
    ).all():
        for name in names or []:
            by_name[name].append(agent_id)
    owners = {v.image.owner_user for v in views.values()} - {None}
    emails = dict(
        (await db.execute(sa.select(User.uuid, User.email).where(User.uuid.in_(owners)))).all()
    )
    groups = {v.image.owner_group for v in views.values()} - {None}
    group_names = dict(
        (await db.execute(sa.select(Group.id, Group.name).where(Group.id.in_(groups)))).all()
    )
    result = []
    for view in views.values():
        img = view.image
        view.aliases.sort()
        view.installed_agents = sorted(by_name.get(img.name, []))
        view.owner_email = emails.get(img.owner_user) if img.owner_user else None
        view.owner_group_name = group_names.get(img.owner_group) if img.owner_group else None
        if is_operation is None or view.is_operation is is_operation:
            result.append(view)
    return result


async def alias_image(db: AsyncSession, actor: Actor, alias: str, target: str) -> Image:
    """Point ``alias`` at the image ``target`` names (moving it if it exists)."""
    authz.require_any(actor, Resource.IMAGE, Action.UPDATE)
    alias = alias.strip()
    if not ALIAS_PATTERN.match(alias):
        raise InvalidRequest(
            f"Invalid alias {alias!r}: use letters, digits and . _ / : - (at most 256)."
        )
    img = await images.resolve(db, target, actor)
    if await db.scalar(sa.select(Image.id).where(Image.name == alias).limit(1)) is not None:
        raise InvalidRequest(f"{alias!r} is the name of an image; an alias cannot take it.")
    row = await db.get(ImageAlias, alias)
    if row is None:
        db.add(ImageAlias(alias=alias, image_id=img.id))
    else:
        row.image_id = img.id
    await db.commit()
    return img


async def dealias_image(db: AsyncSession, actor: Actor, alias: str) -> None:
    authz.require_any(actor, Resource.IMAGE, Action.UPDATE)
    row = await db.get(ImageAlias, alias.strip())
    if row is None:
        raise NotFound(f"There is no image alias {alias!r}.", data={"alias": alias})
    await db.delete(row)
    await db.commit()


@dataclass
class RescanResult:
    images: int
    agents: list[str]
    failed: dict[str, str]

    @property
    def message(self) -> str:
        text = f"{self.images} image(s) from {len(self.agents)} agent(s) and registries"
        if self.failed:
            text += "; not reached: " + ", ".join(f"{k} ({v})" for k, v in self.failed.items())
        return text


async def rescan(
    db: AsyncSession, actor: Actor, agents: AgentClient, registry: str | None = None
) -> RescanResult:
    """Read the images of every alive agent's Docker Engine now (heartbeats do this too, in
    time) and, with ``registry`` (or without, every configured one), of registries."""
    authz.require_any(actor, Resource.IMAGE, Action.CREATE)
    registries = await registry_scan.configured(db)
    if registry is not None and registry not in registries:
        raise InvalidRequest(
            f"No registry {registry!r} is configured"
            + (f" (configured: {', '.join(sorted(registries))})." if registries else ".")
            + f" Configure one with `admin etcd put {registry_scan.PREFIX}<name> <url>`.",
            data={"registry": registry},
        )
    alive = list(
        await db.scalars(
            sa.select(Agent).where(Agent.status == AgentStatus.ALIVE).order_by(Agent.id)
        )
    )
    answers = await asyncio.gather(
        *(asyncio.wait_for(agents.list_images(a.addr), RESCAN_TIMEOUT) for a in alive),
        return_exceptions=True,
    )
    count, reached, failed = 0, [], {}
    for agent, answer in zip(alive, answers, strict=True):
        if isinstance(answer, BaseException):
            failed[agent.id] = str(answer) if isinstance(answer, AgentError) else "no answer"
            continue
        names = await images.register(db, answer, agent.architecture)
        if agent.images != names:
            agent.images = names
        count += len(names)
        reached.append(agent.id)
    targets = [registry] if registry is not None else sorted(registries)
    for name in targets:
        try:
            found = await registry_scan.scan(registries[name])
        except registry_scan.RegistryError as e:
            failed[name] = str(e)
            continue
        count += len(await images.register(db, found, "x86_64"))
    await db.commit()
    return RescanResult(count, reached, failed)


async def delete_image(
    db: AsyncSession, actor: Actor, agents: AgentClient, reference: str
) -> Image:
    """Remove a private image from every agent that has it, then from the platform."""
    authz.require_any(actor, Resource.IMAGE, Action.DELETE)
    img = await images.resolve(db, reference, actor, Action.LIST)
    if not await image_access.permits(db, actor, Action.DELETE, img):
        raise authz.denial(actor, Resource.IMAGE, Action.DELETE, seen=True, missing=ImageNotFound())
    if img.owner_user is None:
        raise InvalidRequest(
            f"{img.name} is a public image: only private images (committed sessions) are "
            "removed here; public ones are removed from the agents' Docker Engines."
        )
    # Every alive agent is asked, not only those whose last heartbeat listed it: a heartbeat
    # read before the commit ended may not list it yet. Removing an absent image is no error.
    alive = list(await db.scalars(sa.select(Agent).where(Agent.status == AgentStatus.ALIVE)))
    await asyncio.gather(*(agents.remove_image(agent.addr, img.name) for agent in alive))
    for agent in alive:
        if img.name in (agent.images or []):
            agent.images = [n for n in agent.images if n != img.name]
    await db.delete(img)
    await db.commit()
    log.info("image %s removed by %s", img.name, actor.user_uuid)
    return img
