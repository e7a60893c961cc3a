"""Facts of the platform's configuration that clients ask for: the resource slot types, the
virtual folder types and the Docker registries (``admin resources resource-slots``,
``vfolder-types``, ``docker-registries``)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.slots import SLOT_TYPES
from backendai.common.statuses import VFolderOwnership
from backendai.manager import authz
from backendai.manager.authz import Action, Resource
from backendai.manager.db.models import ConfigEntry
from backendai.manager.services.auth import Principal

# Backend.AI's keys of the shared configuration: config/docker/registry/<hostname> = <url>.
REGISTRY_PREFIX = "config/docker/registry/"


def resource_slots(principal: Principal) -> dict[str, str]:
    """Slot name -> unit (``count`` or ``bytes``): what presets and sessions are sized in."""
    authz.require_any(principal, Resource.PRESET, Action.LIST)
    return {name: unit.value for name, unit in SLOT_TYPES.items()}


def vfolder_types(principal: Principal) -> list[str]:
    authz.require_any(principal, Resource.STORAGE, Action.LIST)
    return [t.value for t in VFolderOwnership]


async def docker_registries(db: AsyncSession, principal: Principal) -> dict[str, str]:
    """Hostname -> URL of each registry configured in the shared configuration; none is
    configured by default (images are built locally)."""
    authz.require_any(principal, Resource.CONFIG, Action.READ)
    rows = await db.execute(
        sa.select(ConfigEntry.key, ConfigEntry.value).where(
            ConfigEntry.key.startswith(REGISTRY_PREFIX, autoescape=True)
        )
    )
    result: dict[str, str] = {}
    for key, value in rows:
        host = key[len(REGISTRY_PREFIX) :]
        if host and "/" not in host:
            result[host] = _text(value)
    return dict(sorted(result.items()))


def _text(value: str) -> str:
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else value
