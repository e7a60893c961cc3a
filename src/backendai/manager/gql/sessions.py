"""GraphQL types and queries for compute sessions (``ps``, ``admin sessions``, ``info``)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from backendai.common.errors import InvalidRequest
from backendai.common.pending import PendingReason, pending_status_info
from backendai.common.statuses import SessionStatus
from backendai.manager.authz import Action, Resource
from backendai.manager.db.models import Group, Kernel, Session, SessionStatusChange, User
from backendai.manager.gql.context import GQLContext, page
from backendai.manager.gql.list_filters import filtered
from backendai.manager.gql.scalars import JSONString

# A session changes status a handful of times; a bound keeps a pathological one cheap.
MAX_HISTORY = 200


def _json_or_none(value: Any) -> JSONString | None:
    return None if value is None else JSONString(value)


@strawberry.type
class KernelNode:
    id: uuid.UUID
    session_id: uuid.UUID
    cluster_role: str
    cluster_idx: int
    cluster_hostname: str
    agent: str | None
    container_id: str | None
    image: str
    status: str
    status_info: str | None
    status_data: JSONString | None
    status_changed: datetime | None
    occupied_slots: JSONString
    live_stat: JSONString | None
    last_stat: JSONString | None
    created_at: datetime
    terminated_at: datetime | None

    @staticmethod
    def build(k: Kernel) -> KernelNode:
        return KernelNode(
            id=k.id,
            session_id=k.session_id,
            cluster_role=k.cluster_role,
            cluster_idx=k.cluster_idx,
            cluster_hostname=k.cluster_hostname,
            agent=k.agent,
            container_id=k.container_id,
            image=k.image,
            status=k.status.value,
            status_info=k.status_info,
            status_data=JSONString(k.status_data) if k.status_data else None,
            status_changed=k.status_changed,
            occupied_slots=JSONString(k.occupied_slots),
            live_stat=_json_or_none(k.last_stat),
            last_stat=_json_or_none(k.last_stat),
            created_at=k.created_at,
            terminated_at=k.terminated_at,
        )


@strawberry.type
class DependencyNode:
    name: str
    id: uuid.UUID
    status: str
    status_info: str | None
    status_changed: datetime | None


@strawberry.type
class StatusChangeNode:
    status: str
    reason: str | None
    changed_at: datetime


async def _status_history(
    root: ComputeSessionNode, info: Info[GQLContext, None]
) -> list[StatusChangeNode]:
    rows = await info.context.db.scalars(
        sa.select(SessionStatusChange)
        .where(SessionStatusChange.session_id == root.session_id)
        .order_by(SessionStatusChange.changed_at, SessionStatusChange.id)
        .limit(MAX_HISTORY)
    )
    return [
        StatusChangeNode(status=r.status.value, reason=r.reason, changed_at=r.changed_at)
        for r in info.context.charge(list(rows))
    ]


@strawberry.type
class ComputeSessionNode:
    id: uuid.UUID  # the main kernel's id (equal to the session id for one container)
    session_id: uuid.UUID
    task_id: uuid.UUID = strawberry.field(
        description="A batch session's task, whose log `task-logs` reads: the session's id."
    )
    name: str
    tag: str | None
    type: str
    session_type: str
    image: str
    architecture: str
    cluster_mode: str
    cluster_size: int
    cluster_hostname: str | None
    domain_name: str
    group_id: uuid.UUID
    group_name: str | None
    user_id: uuid.UUID
    user_email: str | None
    access_key: str
    scaling_group: str | None
    status: str
    status_info: str | None
    status_data: JSONString | None
    status_changed: datetime | None
    queue_position: int | None = strawberry.field(
        description="A PENDING session's place in its resource group's queue (1: next)."
    )
    estimated_start: datetime | None = strawberry.field(
        description="When a PENDING session is expected to start, where that can be derived."
    )
    result: str
    created_at: datetime
    terminated_at: datetime | None
    starts_at: datetime | None
    occupied_slots: JSONString
    requested_slots: JSONString
    resource_opts: JSONString
    service_ports: JSONString
    mounts: list[str]
    containers: list[KernelNode]
    dependencies: list[DependencyNode]

    status_history: list[StatusChangeNode] = strawberry.field(
        resolver=_status_history,
        description="Every status the session went through, oldest first, with its time and "
        "reason (the session's timeline). Read per session: ask for it in `compute_session`.",
    )


async def _nodes(
    db: AsyncSession, rows: Sequence[tuple[Session, str | None, str | None]]
) -> list[ComputeSessionNode]:
    """The sessions as nodes, with the kernels of the whole page read in one query."""
    kernels: dict[uuid.UUID, list[Kernel]] = defaultdict(list)
    found = await db.scalars(
        sa.select(Kernel)
        .where(Kernel.session_id.in_([s.id for s, _, _ in rows]))
        .order_by(Kernel.session_id, Kernel.cluster_idx)
    )
    for k in found:
        kernels[k.session_id].append(k)
    return [_node(s, group_name, email, kernels[s.id]) for s, group_name, email in rows]


def _node(
    s: Session, group_name: str | None, email: str | None, kernels: list[Kernel]
) -> ComputeSessionNode:
    main = next((k for k in kernels if k.cluster_role == "main"), None)
    pending = (
        PendingReason.from_status_data(s.status_data, s.status_info)
        if s.status is SessionStatus.PENDING
        else None
    )
    return ComputeSessionNode(
        id=main.id if main else s.id,
        session_id=s.id,
        task_id=s.id,
        name=s.name,
        tag=s.tag,
        type=s.session_type.value,
        session_type=s.session_type.value,
        image=s.image,
        architecture=main.architecture if main else "x86_64",
        cluster_mode=s.cluster_mode.value,
        cluster_size=s.cluster_size,
        cluster_hostname=main.cluster_hostname if main else None,
        domain_name=s.domain_name,
        group_id=s.group_id,
        group_name=group_name,
        user_id=s.user_uuid,
        user_email=email,
        access_key=s.access_key,
        scaling_group=s.scaling_group_name,
        status=s.status.value,
        status_info=pending_status_info(
            s.status.value, s.status_info, s.status_data, s.scaling_group_name
        ),
        status_data=JSONString(s.status_data) if s.status_data else None,
        status_changed=s.status_changed,
        queue_position=pending.queue_position if pending else None,
        estimated_start=pending.estimated_start if pending else None,
        result=s.result.value,
        created_at=s.created_at,
        terminated_at=s.terminated_at,
        starts_at=s.starts_at,
        occupied_slots=JSONString(s.occupying_slots),
        requested_slots=JSONString(s.requested_slots),
        resource_opts=JSONString(s.resource_opts),
        service_ports=JSONString(main.service_ports if main else []),
        mounts=[m if isinstance(m, str) else str(m.get("name", "")) for m in s.vfolder_mounts],
        containers=[KernelNode.build(k) for k in kernels],
        dependencies=[],
    )


def _parse_statuses(status: str | None) -> list[SessionStatus] | None:
    if not status:
        return None
    names = [s.strip().upper() for s in status.split(",") if s.strip()]
    known = {s.value for s in SessionStatus}
    # Statuses of Backend.AI that never happen here (BUILDING, RESIZING, SUSPENDED) match nothing.
    unknown = [n for n in names if n not in known | {"BUILDING", "RESIZING", "SUSPENDED"}]
    if unknown:
        raise InvalidRequest(
            f"Unknown session status {', '.join(unknown)}; known: {', '.join(sorted(known))}."
        )
    return [SessionStatus(n) for n in names if n in known]


def _scope(
    ctx: GQLContext,
    action: Action,
    access_key: str | None,
    domain_name: str | None,
    group_id: uuid.UUID | None,
) -> sa.Select[Session, str, str]:
    q = (
        sa.select(Session, Group.name, User.email)
        .join(Group, Group.id == Session.group_id)
        .join(User, User.uuid == Session.user_uuid)
        .where(ctx.visible(Resource.SESSION, action, domain_name))
    )
    if domain_name:
        q = q.where(Session.domain_name == domain_name)
    if access_key:
        q = q.where(Session.access_key == access_key)
    if group_id is not None:
        q = q.where(Session.group_id == group_id)
    return q


@strawberry.type
class ComputeSessionList:
    items: list[ComputeSessionNode]
    total_count: int


# What ``filter`` and ``order`` may name: the list's own columns, with the group's name and the
# owner's email it shows.
SESSION_FIELDS = {
    "id": Session.id,
    "session_id": Session.id,
    "name": Session.name,
    "session_name": Session.name,
    "tag": Session.tag,
    "type": Session.session_type,
    "image": Session.image,
    "status": Session.status,
    "status_info": Session.status_info,
    "result": Session.result,
    "cluster_mode": Session.cluster_mode,
    "cluster_size": Session.cluster_size,
    "access_key": Session.access_key,
    "domain_name": Session.domain_name,
    "group_name": Group.name,
    "user_email": User.email,
    "scaling_group": Session.scaling_group_name,
    "priority": Session.priority,
    "created_at": Session.created_at,
    "status_changed": Session.status_changed,
    "starts_at": Session.starts_at,
    "terminated_at": Session.terminated_at,
}


async def resolve_compute_session_list(
    info: Info[GQLContext, None],
    limit: int,
    offset: int,
    status: str | None = None,
    access_key: str | None = None,
    domain_name: str | None = None,
    group_id: uuid.UUID | None = None,
    filter: str | None = None,
    order: str | None = None,
) -> ComputeSessionList:
    ctx = info.context
    limit, offset = page(limit, offset)
    q = _scope(ctx, Action.LIST, access_key, domain_name, group_id)
    statuses = _parse_statuses(status)
    if statuses is not None:
        q = q.where(Session.status.in_(statuses))
    q, ordered = filtered(
        q, SESSION_FIELDS, filter, order, (Session.status_changed.desc(), Session.id)
    )
    total = await ctx.db.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    rows = (await ctx.db.execute(ordered.limit(limit).offset(offset))).all()
    items = await _nodes(ctx.db, ctx.charge(rows))
    return ComputeSessionList(items=items, total_count=total or 0)


async def resolve_compute_session(
    info: Info[GQLContext, None], id: uuid.UUID
) -> ComputeSessionNode | None:
    ctx = info.context
    q = (
        _scope(ctx, Action.READ, None, None, None)
        .outerjoin(Kernel, Kernel.session_id == Session.id)
        .where(sa.or_(Session.id == id, Kernel.id == id))
    )
    row = (await ctx.db.execute(q.limit(1))).first()
    if row is None:  # absent, or not the caller's to see: the same null either way
        return None
    return (await _nodes(ctx.db, [row]))[0]
