"""The rules a virtual folder's creation follows, shared by create, rename and clone: its name,
its quota against the owner's keypair resource policy (``max_vfolder_size``), how many folders
a user may own (``max_vfolder_count``), one name per owner among ready folders, and the hosts
on which a user may create; and how a folder is shown (``render``)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import InvalidRequest, QuotaExceeded, VFolderAlreadyExists
from backendai.common.slots import parse_amount
from backendai.common.statuses import VFolderOwnership
from backendai.common.vfolders import HostPermission, folder_name_problem
from backendai.manager.db.models import KeyPairResourcePolicy, VFolder
from backendai.manager.services import vfolder_access as access
from backendai.manager.services.auth import Principal
from backendai.manager.services.vfolder_access import FolderAccess


def check_name(name: str) -> str:
    problem = folder_name_problem(name)
    if problem is not None:
        raise InvalidRequest(problem, data={"name": problem})
    return name


def parse_quota(value: object) -> int:
    """A quota as the client sends it (``"10g"``, ``"0"``, a number of bytes, None)."""
    if value is None or value == "":
        return 0
    return int(parse_amount("mem", value))


def render(a: FolderAccess) -> dict[str, Any]:
    """A folder as the list, create and clone answers show it (API_CONTRACT §6.2, §6.3)."""
    f = a.folder
    return {
        "name": f.name, "id": f.id.hex, "host": f.host, "usage_mode": f.usage_mode.value,
        "created_at": str(f.created_at), "is_owner": a.is_owner,
        "permission": a.permission.value, "user": str(f.user) if f.user else None,
        "group": str(f.group) if f.group else None, "creator": f.creator,
        "user_email": a.owner_email, "group_name": a.group_name,
        "ownership_type": f.ownership_type.value, "type": f.ownership_type.value,
        "cloneable": f.cloneable, "quota": f.max_size, "used_bytes": f.cur_size,
        "num_files": f.num_files, "status": f.status,
        "trashed_at": str(f.trashed_at) if f.trashed_at else None,
    }  # fmt: skip


async def policy_limits(db: AsyncSession, policy: str) -> tuple[int, int]:
    """(max_vfolder_count, max_vfolder_size) of a keypair resource policy; 0: no limit."""
    row = (
        await db.execute(
            sa.select(
                KeyPairResourcePolicy.max_vfolder_count, KeyPairResourcePolicy.max_vfolder_size
            ).where(KeyPairResourcePolicy.name == policy)
        )
    ).one_or_none()
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


async def check_count(db: AsyncSession, p: Principal) -> None:
    limit, _ = await policy_limits(db, p.resource_policy)
    owned = await db.scalar(
        sa.select(sa.func.count())
        .select_from(VFolder)
        .where(VFolder.ownership_type == VFolderOwnership.USER, VFolder.user == p.user_uuid)
    )
    if limit > 0 and int(owned or 0) >= limit:
        raise QuotaExceeded(
            f"You own {owned} virtual folders, the most your resource policy allows "
            f"(max_vfolder_count {limit}); delete and purge one first."
        )


async def check_quota(db: AsyncSession, p: Principal, quota: int) -> None:
    _, cap = await policy_limits(db, p.resource_policy)
    if cap > 0 and quota > cap:
        raise QuotaExceeded(
            f"The quota {quota} bytes is more than your resource policy allows "
            f"(max_vfolder_size {cap} bytes)."
        )


async def check_unique(
    db: AsyncSession, name: str, user: uuid.UUID | None, group: uuid.UUID | None
) -> None:
    owner = VFolder.group == group if group is not None else VFolder.user == user
    taken = await db.scalar(
        sa.select(VFolder.id).where(owner, VFolder.name == name, VFolder.status == access.READY)
    )
    if taken is not None:
        raise VFolderAlreadyExists(f"A virtual folder named {name!r} already exists.")


async def require_usable_host(db: AsyncSession, p: Principal, host: str, hosts: set[str]) -> None:
    if host not in hosts or HostPermission.CREATE.value not in await access.host_permissions(
        db, p, host
    ):
        raise InvalidRequest(
            "You are not allowed to use this vfolder host.",
            data={"host": f"{host!r} is not a host on which you may create folders"},
        )
