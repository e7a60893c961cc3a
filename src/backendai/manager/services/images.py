"""Session images: registered from agents' heartbeats, found by name, tag-less name or alias.

An image is a session image when it carries the ``ai.backend.kernelspec`` label. Aliases are
rows of ``image_aliases``: admins may point them anywhere; the defaults kept here are
``<repo>:<tag>`` -> ``<namespace>/<repo>:<tag>`` and ``<repo>`` -> the newest tag of that
repository (``python`` -> ``backendai/python:3.11-debian12``).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.agent_protocol import LABEL_IMAGE_OWNER, PRIVATE_IMAGE_PREFIX, ImageInfo
from backendai.common.errors import ImageNotFound, InvalidRequest
from backendai.common.image_labels import LABEL_KERNELSPEC, LABEL_RESOURCE_MIN
from backendai.common.slots import SLOT_TYPES, parse_amount
from backendai.manager.authz import Action, Actor
from backendai.manager.db.models import Image, ImageAlias
from backendai.manager.services import image_access

log = logging.getLogger(__name__)

LATEST = "latest"


def split_name(name: str) -> tuple[str, str, str]:
    """``registry.example.com/ns/repo:tag`` -> (registry, repository, tag); "local" registry
    for names without a registry host; tag ``latest`` when none is given."""
    head, _, last = name.rpartition("/")
    repo_last, sep, tag = last.partition(":")
    repository = f"{head}/{repo_last}" if head else repo_last
    first = repository.split("/", 1)[0]
    registry = "local"
    if "/" in repository and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, repository.split("/", 1)[1]
    return registry, repository, tag if sep else LATEST


def is_session_image(info: ImageInfo) -> bool:
    return LABEL_KERNELSPEC in info.labels


def private_owner(info: ImageInfo) -> uuid.UUID | None:
    """The owner of a private image (its label); None for a public one. A name in the private
    namespace without a valid owner label is nobody's image: ValueError."""
    label = info.labels.get(LABEL_IMAGE_OWNER)
    if label is None and not info.name.startswith(PRIVATE_IMAGE_PREFIX):
        return None
    return uuid.UUID(str(label))


def min_resources(labels: dict[str, str]) -> dict[str, Any]:
    """``ai.backend.resource.min.<slot>`` labels -> ``{slot: {"min": "decimal", "max": None}}``."""
    resources: dict[str, Any] = {}
    for key, value in labels.items():
        if not key.startswith(LABEL_RESOURCE_MIN):
            continue
        slot = key[len(LABEL_RESOURCE_MIN) :]
        if slot not in SLOT_TYPES:
            continue
        try:
            amount = parse_amount(slot, value)
        except InvalidRequest:
            log.warning("ignoring the image label %s=%r: not an amount", key, value)
            continue
        resources[slot] = {"min": str(amount), "max": None}
    return resources


def _version_key(tag: str) -> tuple[Any, ...]:
    """Natural order of tags: 3.9 < 3.11; ``latest`` sorts first (never the newest)."""
    if tag == LATEST:
        return ((-1,),)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", tag) if p)


async def register(db: AsyncSession, images: Iterable[ImageInfo], architecture: str) -> list[str]:
    """Upsert the session images among ``images``; returns their canonical names."""
    names: list[str] = []
    for info in images:
        if not is_session_image(info):
            continue
        try:
            owner = private_owner(info)
        except ValueError:
            log.warning("ignoring the image %s: a private name without a valid owner", info.name)
            continue
        registry, repository, tag = split_name(info.name)
        canonical = info.name if ":" in info.name.rsplit("/", 1)[-1] else f"{info.name}:{tag}"
        row = await db.scalar(
            sa.select(Image).where(Image.name == canonical, Image.architecture == architecture)
        )
        if row is None:
            # A private image is never made public here, nor a public one private.
            row = Image(name=canonical, architecture=architecture, owner_user=owner)
            db.add(row)
        elif row.owner_user != owner:
            continue
        row.registry_name, row.image, row.tag = registry, repository, tag
        row.config_digest, row.size_bytes = info.digest[:128], info.size_bytes
        if row.labels != info.labels:
            row.labels = dict(info.labels)
        resources = min_resources(info.labels)
        if row.resources != resources:
            row.resources = resources
        names.append(canonical)
    if names:
        await db.flush()
        await refresh_default_aliases(db)
    return names


async def refresh_default_aliases(db: AsyncSession) -> None:
    images = list(
        await db.scalars(
            sa.select(Image)
            .where(Image.owner_user.is_(None))  # private images get no default aliases
            .order_by(Image.name, Image.architecture)
        )
    )
    by_repo: dict[str, list[Image]] = defaultdict(list)
    for img in images:
        by_repo[img.image].append(img)
    by_id = {img.id: img for img in images}
    aliases = {a.alias: a for a in await db.scalars(sa.select(ImageAlias))}
    for repository, members in by_repo.items():
        short = repository.rsplit("/", 1)[-1]
        for img in members:
            if img.tag != LATEST and short != repository:
                _ensure_alias(db, aliases, f"{short}:{img.tag}", img)
        newest = max(members, key=lambda i: _version_key(i.tag))
        current = aliases.get(short)
        if current is None:
            _ensure_alias(db, aliases, short, newest)
        elif current.image_id != newest.id:
            target = by_id.get(current.image_id)
            # Only move aliases that still point into the same repository (not an admin's own).
            if target is not None and target.image == repository:
                current.image_id = newest.id


def _ensure_alias(db: AsyncSession, aliases: dict[str, ImageAlias], alias: str, img: Image) -> None:
    if alias not in aliases:
        row = ImageAlias(alias=alias, image_id=img.id)
        db.add(row)
        aliases[alias] = row


async def resolve(
    db: AsyncSession, ref: str, actor: Actor | None = None, action: Action = Action.USE
) -> Image:
    """The image ``ref`` names: a full name, a full name without tag (``latest``), or an alias.

    With ``actor``: only an image the actor may ``action``; another's private image is not
    found."""
    ref = ref.strip()
    candidates = [ref]
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        candidates.append(f"{ref}:{LATEST}")
    elif ref.endswith(f":{LATEST}"):
        candidates.append(ref[: -len(LATEST) - 1])
    for name in candidates:
        img = await db.scalar(sa.select(Image).where(Image.name == name).limit(1))
        if img is None:
            alias = await db.get(ImageAlias, name)
            img = None if alias is None else await db.get(Image, alias.image_id)
        if img is not None:
            if actor is None or await image_access.permits(db, actor, action, img):
                return img
            break
    raise await _not_found(db, ref, actor)


async def _not_found(db: AsyncSession, ref: str, actor: Actor | None = None) -> ImageNotFound:
    shown = Image.owner_user.is_(None) if actor is None else image_access.visible(actor)
    known = sorted(set(await db.scalars(sa.select(Image.name).where(shown))))
    rows = (
        await db.execute(
            sa.select(ImageAlias.alias, Image.name)
            .join(Image, Image.id == ImageAlias.image_id)
            .where(shown)
        )
    ).all()
    aliases = {alias: name for alias, name in sorted(rows)}
    if known:
        listed = ", ".join(known)
        alias_text = ", ".join(f"{a} -> {n}" for a, n in aliases.items())
        msg = f"Unknown image {ref!r}. Known images: {listed}" + (
            f"; aliases: {alias_text}." if alias_text else "."
        )
    else:
        msg = (
            f"Unknown image {ref!r}: no images are registered yet (agents report theirs in "
            "their heartbeats; is an agent running?)."
        )
    return ImageNotFound(msg, data={"image": ref, "known_images": known, "aliases": aliases})
