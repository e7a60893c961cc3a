"""Virtual folders: create, list, info, rename, options, trash, restore, purge, clone.

The manager keeps each folder's metadata (owner, permission, shares, trash state) and decides
who may do what (``vfolder_access``); its data lives with the storage process, reached through
``StorageClient``. A folder row exists only while its directory does: a create makes the
directory first and removes it again when the row cannot be written; a purge removes the
directory first and the row after it.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.errors import (
    Conflict,
    GroupNotFound,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    PlatformError,
    VFolderAlreadyExists,
    VFolderInUse,
)
from backendai.common.statuses import (
    SessionStatus,
    UserRole,
    VFolderOwnership,
    VFolderPermission,
    VFolderUsageMode,
)
from backendai.common.storage_protocol import FolderClone, FolderCreate, FolderRef
from backendai.common.vfolders import HostPermission
from backendai.manager import authz
from backendai.manager.authz import Action, Resource, Target
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import (
    Group,
    GroupMembership,
    Session,
    User,
    VFolder,
    VFolderShare,
)
from backendai.manager.services import vfolder_access as access
from backendai.manager.services.auth import Principal
from backendai.manager.services.vfolder_access import Need
from backendai.manager.services.vfolder_rules import (
    check_count,
    check_name,
    check_quota,
    check_unique,
    render,
    require_usable_host,
)
from backendai.manager.storage_client import StorageClient

log = logging.getLogger(__name__)

DEFAULT_HOST = "local"
ENDED = (SessionStatus.TERMINATED, SessionStatus.CANCELLED)
ADMINS = (UserRole.ADMIN, UserRole.SUPERADMIN)


@dataclass(frozen=True)
class CreateSpec:
    name: str
    host: str | None = None
    group: str | None = None
    usage_mode: VFolderUsageMode = VFolderUsageMode.GENERAL
    permission: VFolderPermission = VFolderPermission.READ_WRITE
    quota: int = 0
    cloneable: bool = False
    unmanaged_path: str | None = None


class VFolderService:
    def __init__(self, db: async_sessionmaker[AsyncSession], storage: StorageClient) -> None:
        self._db = db
        self.storage = storage

    async def _discard(self, ref: FolderRef) -> None:
        """Remove a directory made for a row that could not be written."""
        try:
            await self.storage.delete_folder(ref)
        except PlatformError as e:
            log.warning("could not remove the unused folder %s on %s: %s", ref.vfid, ref.volume, e)

    async def volume_names(self) -> list[str]:
        return [v.name for v in (await self.storage.volumes()).volumes]

    async def hosts(self, p: Principal) -> dict[str, Any]:
        volumes = {v.name: v for v in (await self.storage.volumes()).volumes}
        async with self._db() as db:
            allowed = sorted(await access.usable_hosts(db, p) & set(volumes))
        default = DEFAULT_HOST if DEFAULT_HOST in allowed else (allowed[0] if allowed else None)
        info = {
            h: {"backend": volumes[h].backend, "capabilities": volumes[h].capabilities,
                "usage": {"capacity_bytes": volumes[h].capacity_bytes,
                          "used_bytes": volumes[h].used_bytes}}
            for h in allowed
        }  # fmt: skip
        return {"default": default, "allowed": allowed, "volume_info": info}

    async def all_hosts(self, p: Principal) -> dict[str, Any]:
        if p.role not in ADMINS:
            raise PermissionDenied("Only admins may list every vfolder host.")
        names = sorted(await self.volume_names())
        default = DEFAULT_HOST if DEFAULT_HOST in names else (names[0] if names else None)
        return {"default": default, "allowed": names}

    async def _group_of(self, db: AsyncSession, p: Principal, ref: str) -> Group:
        try:
            cond = Group.id == uuid.UUID(ref)
        except ValueError:
            cond = sa.and_(Group.name == ref, Group.domain_name == p.domain_name)
        group = await db.scalar(sa.select(Group).where(cond))
        missing = GroupNotFound(f"No group (project) {ref!r} that you may use.")
        if group is None:
            raise missing
        members = await db.scalars(
            sa.select(GroupMembership.user_id).where(GroupMembership.group_id == group.id)
        )
        target = Target.group(group.domain_name, members)
        if not authz.permits(p, Resource.VFOLDER, Action.CREATE, target):
            if p.role in ADMINS or p.user_uuid not in target.owners:
                raise missing
            raise PermissionDenied("Only admins may create group folders.")
        return group

    async def create(self, p: Principal, spec: CreateSpec) -> dict[str, Any]:
        check_name(spec.name)
        if spec.unmanaged_path:
            raise InvalidRequest("Unmanaged folders are not supported by this platform.")
        hosts = set(await self.volume_names())
        async with self._db() as db:
            host = spec.host or (
                DEFAULT_HOST
                if DEFAULT_HOST in hosts
                else min(await access.usable_hosts(db, p) & hosts, default="")
            )
            await require_usable_host(db, p, host, hosts)
            group = await self._group_of(db, p, spec.group) if spec.group else None
            await check_quota(db, p, spec.quota)
            if group is None:
                await check_count(db, p)
            await check_unique(
                db, spec.name, None if group else p.user_uuid, group.id if group else None
            )
        vfid = uuid.uuid4()
        await self.storage.create_folder(FolderCreate(volume=host, vfid=vfid))
        try:
            async with self._db() as db, db.begin():
                if group is None:
                    await check_count(db, p)
                await check_unique(
                    db, spec.name, None if group else p.user_uuid, group.id if group else None
                )
                folder = VFolder(
                    id=vfid, host=host, name=spec.name, usage_mode=spec.usage_mode,
                    permission=spec.permission, max_size=spec.quota, creator=p.email,
                    ownership_type=VFolderOwnership.GROUP if group else VFolderOwnership.USER,
                    user=None if group else p.user_uuid, group=group.id if group else None,
                    cloneable=spec.cloneable, status=access.READY,
                    domain_name=group.domain_name if group else p.domain_name,
                )  # fmt: skip
                db.add(folder)
                await db.flush()
                shown = await access.access_of(db, p, folder)
                assert shown is not None
                return render(shown)
        except BaseException:
            await self._discard(FolderRef(volume=host, vfid=vfid))
            raise

    async def list(
        self, p: Principal, *, all_: bool = False, trash: bool = False, group_id: str | None = None
    ) -> list[dict[str, Any]]:
        status = access.TRASH if trash else access.READY
        async with self._db() as db:
            if all_ and p.role is UserRole.USER:
                raise PermissionDenied("Only admins may list every virtual folder (--all).")
            found = await access.accessible(db, p, status=status, include_admin=all_)
            if trash:  # only what one may restore or purge
                found = [a for a in found if a.may_manage]
            if group_id:
                found = [a for a in found if _in_group(a.folder, group_id)]
            return [render(a) for a in found]

    async def info(self, p: Principal, ref: str) -> dict[str, Any]:
        async with self._db() as db:
            a = await access.resolve(db, p, ref, Need.READ)
        usage = await self.storage.usage(FolderRef(volume=a.folder.host, vfid=a.folder.id))
        async with self._db() as db, db.begin():
            await db.execute(
                sa.update(VFolder).where(VFolder.id == a.folder.id)
                .values(num_files=usage.file_count, cur_size=usage.used_bytes)
            )  # fmt: skip
            shared: list[dict[str, str]] = []
            if a.may_manage:
                rows = await db.execute(
                    sa.select(User.email, VFolderShare.permission)
                    .join(User, User.uuid == VFolderShare.user)
                    .where(VFolderShare.vfolder == a.folder.id).order_by(User.email)
                )  # fmt: skip
                shared = [{"email": e, "permission": perm.value} for e, perm in rows]
        f = a.folder
        out = render(a)
        out.update({
            "numFiles": usage.file_count, "num_files": usage.file_count,
            "used_bytes": usage.used_bytes, "created": str(f.created_at),
            "last_used": str(f.last_used) if f.last_used else None,
        })  # fmt: skip
        if a.may_manage:
            out["shared_with"] = shared
        return out

    async def rename(self, p: Principal, ref: str, new_name: str) -> None:
        check_name(new_name)
        async with self._db() as db, db.begin():
            a = await access.resolve(db, p, ref, Need.READ)
            if not (a.may_manage or (a.via == "group" and a.level >= 3)):
                raise PermissionDenied(f"You may not rename the virtual folder {ref!r}.")
            f = a.folder
            if new_name == f.name:
                return
            await check_unique(db, new_name, f.user, f.group)
            f.name = new_name

    async def update_options(
        self,
        p: Principal,
        ref: str,
        *,
        cloneable: bool | None = None,
        permission: VFolderPermission | None = None,
    ) -> None:
        async with self._db() as db, db.begin():
            a = await access.resolve(db, p, ref, Need.MANAGE)
            await access.require_host(db, p, a.folder.host, HostPermission.MODIFY.value)
            if cloneable is not None:
                a.folder.cloneable = cloneable
            if permission is not None:
                a.folder.permission = permission

    async def _check_unused(self, db: AsyncSession, f: VFolder) -> None:
        """Refuse while a session that has not ended mounts ``f`` (by id or by name)."""
        users: set[uuid.UUID] = {f.user} if f.user else set()
        users.update(await db.scalars(sa.select(VFolderShare.user).where(
            VFolderShare.vfolder == f.id)))  # fmt: skip
        if f.group is not None:
            users.update(await access_members(db, f.group))
        rows = await db.execute(
            sa.select(Session.name, Session.user_uuid, Session.vfolder_mounts).where(
                Session.status.not_in(ENDED)
            )
        )
        for name, user, mounts in rows:
            for m in mounts or []:
                if isinstance(m, dict):
                    hit = str(m.get("vfid", "")).replace("-", "") == f.id.hex or (
                        "vfid" not in m and m.get("name") == f.name and user in users
                    )
                else:
                    hit = m == f.name and user in users
                if hit:
                    raise VFolderInUse(
                        f"The virtual folder {f.name!r} is mounted by the session {name!r}; "
                        "terminate it first."
                    )

    async def delete(self, p: Principal, ref: str) -> None:
        async with self._db() as db, db.begin():
            a = await access.resolve(db, p, ref, Need.MANAGE)
            await access.require_host(db, p, a.folder.host, HostPermission.DELETE.value)
            await self._check_unused(db, a.folder)
            a.folder.status = access.TRASH
            a.folder.trashed_at = utcnow()

    async def restore(self, p: Principal, ref: str) -> dict[str, Any]:
        async with self._db() as db, db.begin():
            a = await access.resolve(db, p, ref, Need.MANAGE, status=access.TRASH)
            f = a.folder
            try:
                await check_unique(db, f.name, f.user, f.group)
            except VFolderAlreadyExists as e:
                raise Conflict(
                    f"A virtual folder named {f.name!r} exists again; rename it before "
                    "restoring this one."
                ) from e
            f.status = access.READY
            f.trashed_at = None
            return render(a)

    async def purge(self, p: Principal, ref: str) -> None:
        async with self._db() as db:
            a = await access.resolve(db, p, ref, Need.MANAGE, status=access.TRASH)
            await access.require_host(db, p, a.folder.host, HostPermission.DELETE.value)
        with contextlib.suppress(NotFound):  # already gone: the row goes too
            await self.storage.delete_folder(FolderRef(volume=a.folder.host, vfid=a.folder.id))
        async with self._db() as db, db.begin():
            await db.execute(sa.delete(VFolder).where(VFolder.id == a.folder.id))

    async def clone(
        self, p: Principal, ref: str, target_name: str, target_host: str | None,
        usage_mode: VFolderUsageMode, permission: VFolderPermission, cloneable: bool,
    ) -> dict[str, Any]:  # fmt: skip
        check_name(target_name)
        hosts = set(await self.volume_names())
        async with self._db() as db:
            a = await access.resolve(db, p, ref, Need.READ)
            if not (a.folder.cloneable or a.may_manage):
                raise PermissionDenied(f"The virtual folder {ref!r} is not cloneable.")
            host = target_host or a.folder.host
            await require_usable_host(db, p, host, hosts)
            await check_count(db, p)
            await check_unique(db, target_name, p.user_uuid, None)
            await check_quota(db, p, a.folder.max_size)
        src = FolderRef(volume=a.folder.host, vfid=a.folder.id)
        dst = FolderRef(volume=host, vfid=uuid.uuid4())
        usage = await self.storage.clone_folder(FolderClone(src=src, dst=dst))
        try:
            async with self._db() as db, db.begin():
                await check_unique(db, target_name, p.user_uuid, None)
                folder = VFolder(
                    id=dst.vfid, host=host, name=target_name, usage_mode=usage_mode,
                    permission=permission, max_size=a.folder.max_size, creator=p.email,
                    ownership_type=VFolderOwnership.USER, user=p.user_uuid, group=None,
                    cloneable=cloneable, status=access.READY, domain_name=p.domain_name,
                    num_files=usage.file_count, cur_size=usage.used_bytes,
                )  # fmt: skip
                db.add(folder)
                await db.flush()
                shown = await access.access_of(db, p, folder)
                assert shown is not None
                return render(shown)
        except BaseException:
            await self._discard(dst)
            raise


def _in_group(f: VFolder, group_id: str) -> bool:
    return f.group is not None and group_id in (str(f.group), f.group.hex)


async def access_members(db: AsyncSession, group: uuid.UUID) -> list[uuid.UUID]:
    rows = await db.scalars(
        sa.select(GroupMembership.user_id).where(GroupMembership.group_id == group)
    )
    return list(rows)
