"""Admitting a new session and making its rows (its session and main kernel): the checks
and rows a create and a batch create share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import InvalidRequest
from backendai.common.session_request import CreateSessionRequest, parse_starts_at
from backendai.common.slots import ResourceSlot
from backendai.common.statuses import SessionType
from backendai.manager.db.models import Image, Kernel, Session
from backendai.manager.services import scaling_groups
from backendai.manager.services.auth import Principal
from backendai.manager.services.session_checks import (
    Owner,
    check_capacity,
    check_policy_totals,
    check_priority,
    requested_resources,
    resolve_dependencies,
    resolve_group,
)
from backendai.manager.services.vfolder_mounts import owner_principal, resolve_mounts


@dataclass(frozen=True)
class Admitted:
    """What the checks of a create decided: whose, where, how big and when."""

    owner: Owner
    image: Image
    session_type: SessionType
    group_id: uuid.UUID
    slots: ResourceSlot
    opts: dict[str, Any]
    scaling_group: str
    starts_at: datetime | None
    depends_on: tuple[uuid.UUID, ...] = ()
    # Session.vfolder_mounts: the folders it mounts, resolved (``vfolder_mounts``).
    vfolders: tuple[dict[str, Any], ...] = ()


def session_type_of(req: CreateSessionRequest) -> SessionType:
    """What a request asks for that no table decides (checked before any is read)."""
    if req.cluster_size != 1 or req.cluster_mode != "single-node":
        raise InvalidRequest("Only single-container sessions (clusterSize 1) are supported.")
    session_type = SessionType(req.type.upper())
    if session_type is SessionType.BATCH and not req.startup_command:
        raise InvalidRequest("A batch session needs a startupCommand to run.")
    return session_type


async def admit(
    db: AsyncSession,
    principal: Principal,
    req: CreateSessionRequest,
    owner: Owner,
    image: Image,
    now: datetime,
) -> Admitted:
    """Every check of a new session that needs no lock: where it may run, that it could ever
    fit there and within its policies, its dependencies and start time; refused with the
    reason otherwise. (Limits on what is live are checked under the keypair's lock.)"""
    group_id = await resolve_group(db, owner, req.domain, req.group)
    slots, opts = requested_resources(req.config.resources, req.config.resource_opts, image)
    scaling_group = await scaling_groups.for_session(
        db, domain_name=owner.domain_name, group_id=group_id,
        access_key=owner.access_key, requested=req.config.scaling_group, slots=slots,
    )  # fmt: skip
    await check_capacity(db, slots, scaling_group)
    await check_policy_totals(db, owner, group_id, slots)
    depends_on = await resolve_dependencies(db, owner, req.dependencies)
    starts_at = parse_starts_at(req.starts_at, now)
    check_priority(principal, req.priority)
    vfolders = await resolve_mounts(
        db, owner_principal(principal, owner), req.config.mounts, req.config.mount_map
    )
    return Admitted(
        owner, image, session_type_of(req), group_id, slots, dict(opts), scaling_group,
        starts_at, tuple(depends_on), tuple(vfolders),
    )  # fmt: skip


def session_rows(
    name: str, req: CreateSessionRequest, a: Admitted, now: datetime
) -> tuple[Session, Kernel]:
    session = Session(
        id=uuid.uuid4(), name=name, tag=req.tag, session_type=a.session_type,
        domain_name=a.owner.domain_name, group_id=a.group_id, user_uuid=a.owner.user_uuid,
        access_key=a.owner.access_key, scaling_group_name=a.scaling_group,
        image=a.image.name, requested_slots=a.slots.to_json(), occupying_slots={},
        resource_opts=dict(a.opts), environ=dict(req.config.environ),
        vfolder_mounts=[dict(m) for m in a.vfolders],
        bootstrap_script=req.bootstrap_script, startup_command=req.startup_command,
        starts_at=a.starts_at, created_at=now, priority=req.priority,
    )  # fmt: skip
    kernel = Kernel(
        id=session.id, session_id=session.id, image=a.image.name,
        architecture=a.image.architecture, requested_slots=a.slots.to_json(),
        preopen_ports=list(req.config.preopen_ports),
    )  # fmt: skip
    return session, kernel
