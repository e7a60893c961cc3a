"""GraphQL virtual folders: ``vfolder_list`` (``admin vfolders``), paged, within the caller's
reach as the authorization table's VFOLDER rows say (a user sees the folders it uses; a
domain admin those of its domain; a superadmin and a monitor all)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
import strawberry
from strawberry.types import Info

from backendai.manager.authz import Action, Resource
from backendai.manager.db.models import Group, KeyPair, User, VFolder
from backendai.manager.gql.context import GQLContext, page
from backendai.manager.gql.list_filters import filtered
from backendai.manager.gql.scalars import BigInt


@strawberry.type
class VFolderNode:
    id: uuid.UUID
    host: str
    name: str
    user: uuid.UUID | None
    user_email: str | None
    group: uuid.UUID | None
    group_name: str | None
    creator: str | None
    unmanaged_path: str | None
    usage_mode: str
    permission: str
    ownership_type: str
    max_files: int
    max_size: BigInt
    created_at: datetime
    last_used: datetime | None
    num_files: int
    cur_size: BigInt
    cloneable: bool
    status: str


@strawberry.type
class VFolderList:
    items: list[VFolderNode]
    total_count: int


def _node(f: VFolder, email: str | None, group_name: str | None) -> VFolderNode:
    return VFolderNode(
        id=f.id, host=f.host, name=f.name, user=f.user, user_email=email, group=f.group,
        group_name=group_name, creator=f.creator, unmanaged_path=f.unmanaged_path,
        usage_mode=f.usage_mode.value, permission=f.permission.value,
        ownership_type=f.ownership_type.value, max_files=f.max_files, max_size=BigInt(f.max_size),
        created_at=f.created_at, last_used=f.last_used, num_files=f.num_files,
        cur_size=BigInt(f.cur_size), cloneable=f.cloneable, status=f.status,
    )  # fmt: skip


# What ``filter`` and ``order`` may name: the list's columns, with the owner's email and the
# group's name it shows.
VFOLDER_FIELDS = {
    "id": VFolder.id,
    "name": VFolder.name,
    "host": VFolder.host,
    "usage_mode": VFolder.usage_mode,
    "permission": VFolder.permission,
    "ownership_type": VFolder.ownership_type,
    "max_files": VFolder.max_files,
    "max_size": VFolder.max_size,
    "num_files": VFolder.num_files,
    "cur_size": VFolder.cur_size,
    "cloneable": VFolder.cloneable,
    "status": VFolder.status,
    "created_at": VFolder.created_at,
    "last_used": VFolder.last_used,
    "user_email": User.email,
    "group_name": Group.name,
}


async def resolve_vfolder_list(
    info: Info[GQLContext, None],
    limit: int,
    offset: int,
    group_id: uuid.UUID | None = None,
    access_key: str | None = None,
    filter: str | None = None,
    order: str | None = None,
) -> VFolderList:
    ctx = info.context
    limit, offset = page(limit, offset)
    q = (
        sa.select(VFolder, User.email, Group.name)
        .outerjoin(User, User.uuid == VFolder.user)
        .outerjoin(Group, Group.id == VFolder.group)
        .where(ctx.visible(Resource.VFOLDER, Action.LIST))
    )
    if group_id is not None:
        q = q.where(VFolder.group == group_id)
    if access_key is not None:
        owner = sa.select(KeyPair.user).where(KeyPair.access_key == access_key)
        q = q.where(VFolder.user.in_(owner))
    q, ordered = filtered(q, VFOLDER_FIELDS, filter, order, (VFolder.created_at.desc(), VFolder.id))
    total = await ctx.db.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    rows = (await ctx.db.execute(ordered.limit(limit).offset(offset))).all()
    items = [_node(f, email, gname) for f, email, gname in ctx.charge(rows)]
    return VFolderList(items=items, total_count=total or 0)


@strawberry.type
class VFolderQuery:
    vfolder_list: VFolderList = strawberry.field(resolver=resolve_vfolder_list)
