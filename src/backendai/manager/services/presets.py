"""Resource presets: named session sizes (``resource_presets``), and which of them the caller
could start now (``check-presets``)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import AlreadyExists, InvalidRequest, NotFound
from backendai.common.slots import ResourceSlot, parse_amount
from backendai.manager import authz
from backendai.manager.authz import Action, Resource
from backendai.manager.db.models import (
    Group,
    KeyPairResourcePolicy,
    ResourcePreset,
    Session,
)
from backendai.manager.lifecycle import OCCUPYING_STATUSES
from backendai.manager.scheduler.snapshot import alive_agents, limit_for, occupancy
from backendai.manager.services import scaling_groups
from backendai.manager.services.auth import Principal


def preset_not_found(name: str) -> NotFound:
    return NotFound(f"No resource preset named {name!r}.")


class PresetProps(BaseModel):
    """``create``/``modify_resource_preset``'s props; on modify, None keeps a value."""

    model_config = ConfigDict(extra="forbid")

    resource_slots: dict[str, Any] | None = None
    shared_memory: str | int | None = None

    @field_validator("resource_slots")
    @classmethod
    def _slots(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else ResourceSlot.parse(value).to_json()

    @field_validator("shared_memory")
    @classmethod
    def _shmem(cls, value: str | int | None) -> int | None:
        return None if value is None or value == "" else int(parse_amount("mem", value))


def render(p: ResourcePreset) -> dict[str, Any]:
    """A preset as ``GET /resource/presets`` and ``check-presets`` answer it."""
    shm = None if p.shared_memory is None else str(p.shared_memory)
    return {"name": p.name, "resource_slots": dict(p.resource_slots), "shared_memory": shm}


async def list_presets(db: AsyncSession, principal: Principal) -> list[ResourcePreset]:
    authz.require_any(principal, Resource.PRESET, Action.LIST)
    return list(await db.scalars(sa.select(ResourcePreset).order_by(ResourcePreset.name)))


async def create(
    db: AsyncSession, principal: Principal, name: str, props: PresetProps
) -> ResourcePreset:
    authz.require_any(principal, Resource.PRESET, Action.CREATE)
    if not name.strip():
        raise InvalidRequest("A resource preset needs a name.")
    if props.resource_slots is None:
        raise InvalidRequest("A resource preset needs resource_slots.")
    if await db.get(ResourcePreset, name) is not None:
        raise AlreadyExists(f"A resource preset named {name!r} already exists.")
    preset = ResourcePreset(
        name=name, resource_slots=props.resource_slots, shared_memory=props.shared_memory
    )
    db.add(preset)
    await db.flush()
    return preset


async def modify(
    db: AsyncSession, principal: Principal, name: str, props: PresetProps
) -> ResourcePreset:
    authz.require_any(principal, Resource.PRESET, Action.UPDATE)
    preset = await db.get(ResourcePreset, name)
    if preset is None:
        raise preset_not_found(name)
    for column, value in props.model_dump(exclude_none=True).items():
        setattr(preset, column, value)
    await db.flush()
    return preset


async def delete(db: AsyncSession, principal: Principal, name: str) -> None:
    authz.require_any(principal, Resource.PRESET, Action.DELETE)
    preset = await db.get(ResourcePreset, name)
    if preset is None:
        raise preset_not_found(name)
    await db.delete(preset)
    await db.flush()


class CheckPresetsRequest(BaseModel):
    scaling_group: str | None = None
    group: str | None = None


async def _keypair_using(db: AsyncSession, access_key: str) -> ResourceSlot:
    rows = await db.scalars(
        sa.select(Session.occupying_slots).where(
            Session.access_key == access_key, Session.status.in_(OCCUPYING_STATUSES)
        )
    )
    total = ResourceSlot()
    for slots in rows:
        total = total + ResourceSlot.from_json(slots)
    return total


def _infinite(limit: ResourceSlot | None, names: list[str]) -> dict[str, str]:
    return {n: "Infinity" for n in names} if limit is None else limit.to_json()


async def check_presets(
    db: AsyncSession, principal: Principal, req: CheckPresetsRequest
) -> dict[str, Any]:
    """What the caller's keypair may still use, what each allowed scaling group has free,
    and which presets would fit now."""
    presets = await list_presets(db, principal)
    policy = await db.get(KeyPairResourcePolicy, principal.resource_policy)
    limit = None
    if policy is not None:
        limit = limit_for((policy.total_resource_slots, policy.default_for_unspecified), {})
    using = await _keypair_using(db, principal.access_key)
    group_id: uuid.UUID | None = None
    if req.group:
        group_id = await db.scalar(
            sa.select(Group.id).where(
                Group.domain_name == principal.domain_name,
                sa.or_(Group.name == req.group, sa.cast(Group.id, sa.String) == req.group),
            )
        )
    names = await scaling_groups.allowed(db, principal.domain_name, group_id, principal.access_key)
    if req.scaling_group is not None:
        if req.scaling_group not in names:
            raise scaling_groups.not_found(req.scaling_group)
        names = [req.scaling_group]
    agents = [a for a in await alive_agents(db) if a.scaling_group in names]
    used = await occupancy(db, [a.id for a in agents])
    per_group: dict[str, dict[str, ResourceSlot]] = {
        n: {"using": ResourceSlot(), "remaining": ResourceSlot()} for n in names
    }
    largest_free = ResourceSlot()
    for a in agents:
        capacity = ResourceSlot.from_json(a.available_slots)
        free = capacity - used[a.id]
        per_group[a.scaling_group]["using"] += used[a.id]
        per_group[a.scaling_group]["remaining"] += free
        largest_free = ResourceSlot(
            {k: max(largest_free.get_amount(k), free.get_amount(k)) for k in {*free, *largest_free}}
        )
    slot_names = sorted({*largest_free, *using, *(limit or {})})
    remaining = None if limit is None else limit - using
    items = []
    for p in presets:
        need = ResourceSlot.from_json(p.resource_slots)
        fits = need.fits_in(largest_free) and (remaining is None or need.fits_in(remaining))
        items.append(render(p) | {"allocatable": fits and bool(agents)})
    return {
        "keypair_limits": _infinite(limit, slot_names),
        "keypair_using": using.to_json(),
        "keypair_remaining": _infinite(remaining, slot_names),
        "scaling_group_remaining": sum(
            (g["remaining"] for g in per_group.values()), ResourceSlot()
        ).to_json(),
        "scaling_groups": {n: {k: v.to_json() for k, v in g.items()} for n, g in per_group.items()},
        "presets": items,
    }
