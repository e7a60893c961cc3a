"""Who may reach which virtual folder, and how far.

A folder is reached by its owner (a user folder's user), by the members of its group (a group
folder), by the users it was shared with (an accepted invitation or a share), and by admins
as the authorization table's VFOLDER rows allow. What each may do inside is a level:

- ``Need.READ``: list, download, mount read-only;
- ``Need.WRITE``: upload, mkdir, rename, move, delete files (``rw`` and ``wd``);
- ``Need.MANAGE``: rename or delete the folder, change its options, invite, share (the owner,
  a group folder's admins, and sharees with ``wd`` for rename and delete only; see
  ``may_manage``).

A folder the caller may not read is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import NotFound, PermissionDenied
from backendai.common.statuses import UserRole, VFolderOwnership, VFolderPermission
from backendai.common.vfolders import PERMISSION_LEVEL
from backendai.manager import authz
from backendai.manager.authz import Action, Resource, Target
from backendai.manager.db.models import (
    Domain,
    Group,
    GroupMembership,
    KeyPairResourcePolicy,
    User,
    VFolder,
    VFolderShare,
)
from backendai.manager.services.auth import Principal

READY = "ready"
TRASH = "trash"


class Need(IntEnum):
    READ = 1
    WRITE = 2
    MANAGE = 3


class VFolderNotFound(NotFound):
    code = "vfolder-not-found"
    title = "Virtual folder not found."


def folder_missing(name: str) -> VFolderNotFound:
    return VFolderNotFound(
        f"No virtual folder named {name!r} that you may use; `backend.ai vfolder list` shows yours."
    )


@dataclass(frozen=True)
class FolderAccess:
    folder: VFolder
    # The caller's level inside the folder: the owner's is the folder's own permission,
    # a managing admin's wd.
    permission: VFolderPermission
    is_owner: bool
    # How the caller reaches it: owner, group (a member), shared, admin.
    via: str
    group_name: str | None = None
    owner_email: str | None = None

    @property
    def level(self) -> int:
        return PERMISSION_LEVEL[self.permission]

    def allows(self, need: Need) -> bool:
        if need is Need.MANAGE:
            return self.may_manage
        return self.level >= int(need)

    @property
    def may_manage(self) -> bool:
        return self.is_owner or self.via == "admin"


async def group_ids(db: AsyncSession, user_uuid: uuid.UUID) -> list[uuid.UUID]:
    rows = await db.scalars(
        sa.select(GroupMembership.group_id).where(GroupMembership.user_id == user_uuid)
    )
    return list(rows)


async def _admin_target(db: AsyncSession, f: VFolder) -> Target:
    """The folder as the authorization table sees it: its domain, its owner's role."""
    if f.user is not None:
        row = (
            await db.execute(sa.select(User.domain_name, User.role).where(User.uuid == f.user))
        ).one_or_none()
        if row is not None:
            return Target.owned_by(f.user, row[0], row[1])
    domain = f.domain_name
    if domain is None and f.group is not None:
        domain = await db.scalar(sa.select(Group.domain_name).where(Group.id == f.group))
    return Target(domain or "", UserRole.USER)


async def _describe(db: AsyncSession, folder: VFolder, permission: VFolderPermission,
                    is_owner: bool, via: str) -> FolderAccess:  # fmt: skip
    group_name = None
    if folder.group is not None:
        group_name = await db.scalar(sa.select(Group.name).where(Group.id == folder.group))
    owner_email = None
    if folder.user is not None:
        owner_email = await db.scalar(sa.select(User.email).where(User.uuid == folder.user))
    return FolderAccess(folder, permission, is_owner, via, group_name, owner_email)


async def access_of(
    db: AsyncSession, p: Principal, folder: VFolder, groups: list[uuid.UUID] | None = None
) -> FolderAccess | None:
    """How ``p`` reaches ``folder``, or None when it may not see it at all; ``groups``: ``p``'s
    groups when the caller already has them (a listing asks once, not once per folder)."""
    if folder.ownership_type is VFolderOwnership.USER and folder.user == p.user_uuid:
        # The folder's own permission binds its owner too (a folder made "ro" is mounted and
        # served read-only); the owner may change it with update-options.
        return await _describe(db, folder, folder.permission, True, "owner")
    share = await db.scalar(
        sa.select(VFolderShare.permission).where(
            VFolderShare.vfolder == folder.id, VFolderShare.user == p.user_uuid
        )
    )
    target = await _admin_target(db, folder)
    if authz.permits(p, Resource.VFOLDER, Action.UPDATE, target) and p.role in (
        UserRole.ADMIN,
        UserRole.SUPERADMIN,
    ):
        return await _describe(db, folder, VFolderPermission.RW_DELETE, False, "admin")
    if groups is None and folder.group is not None:
        groups = await group_ids(db, p.user_uuid)
    if folder.group is not None and groups is not None and folder.group in groups:
        return await _describe(db, folder, folder.permission, False, "group")
    if share is not None:
        return await _describe(db, folder, share, False, "shared")
    return None


async def accessible(
    db: AsyncSession, p: Principal, *, status: str = READY, include_admin: bool = False
) -> list[FolderAccess]:
    """The folders ``p`` uses: its own, its groups', those shared with it; with
    ``include_admin`` also every folder its role reaches (``vfolder list -a``)."""
    groups = await group_ids(db, p.user_uuid)
    shared = sa.select(VFolderShare.vfolder).where(VFolderShare.user == p.user_uuid)
    cond = sa.or_(
        sa.and_(VFolder.ownership_type == VFolderOwnership.USER, VFolder.user == p.user_uuid),
        VFolder.group.in_(groups) if groups else sa.false(),
        VFolder.id.in_(shared),
    )
    if include_admin and p.role in (UserRole.ADMIN, UserRole.SUPERADMIN, UserRole.MONITOR):
        if authz.scope_of(p.role, Resource.VFOLDER, Action.LIST) is authz.Scope.ALL:
            cond = sa.true()
        else:
            in_domain = sa.select(User.uuid).where(User.domain_name == p.domain_name)
            cond = sa.or_(cond, VFolder.user.in_(in_domain), VFolder.domain_name == p.domain_name)
    rows = await db.scalars(
        sa.select(VFolder).where(cond, VFolder.status == status).order_by(VFolder.created_at)
    )
    out = []
    for folder in rows:
        access = await access_of(db, p, folder, groups)
        if (
            access is None
            and include_admin
            # within the role's reach only (an admin never lists a superadmin's folders)
            and authz.permits(p, Resource.VFOLDER, Action.LIST, await _admin_target(db, folder))
        ):
            access = await _describe(db, folder, VFolderPermission.READ_ONLY, False, "admin")
        if access is not None:
            out.append(access)
    return out


def _is_id(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref) if len(ref) in (32, 36) else None
    except ValueError:
        return None


async def resolve(
    db: AsyncSession, p: Principal, ref: str, need: Need, *, status: str = READY
) -> FolderAccess:
    """The folder ``ref`` (a name among those ``p`` uses, or an id) if ``p`` may do ``need``
    in it; else "not found" (it may not see it) or "permission denied" (it may, but not this)."""
    vfid = _is_id(ref)
    access: FolderAccess | None = None
    if vfid is not None:
        folder = await db.scalar(
            sa.select(VFolder).where(VFolder.id == vfid, VFolder.status == status)
        )
        if folder is not None:
            access = await access_of(db, p, folder)
    if access is None:
        matches = [a for a in await accessible(db, p, status=status) if a.folder.name == ref]
        # Two folders of one name (yours and a group's): your own wins, then the widest.
        matches.sort(key=lambda a: (not a.is_owner, -a.level))
        access = matches[0] if matches else None
    if access is None:
        raise folder_missing(ref)
    if not access.allows(need):
        what = {Need.READ: "read", Need.WRITE: "write to", Need.MANAGE: "manage"}[need]
        raise PermissionDenied(
            f"You may not {what} the virtual folder {access.folder.name!r}: your permission "
            f"there is {access.permission.value}."
        )
    return access


def _host_maps(p: Principal) -> list[sa.Select[tuple[dict[str, Any]]]]:
    """The ``allowed_vfolder_hosts`` that apply to ``p``: its domain's, its keypair resource
    policy's and its groups'."""
    mine = sa.select(GroupMembership.group_id).where(GroupMembership.user_id == p.user_uuid)
    return [
        sa.select(Domain.allowed_vfolder_hosts).where(Domain.name == p.domain_name),
        sa.select(KeyPairResourcePolicy.allowed_vfolder_hosts).where(
            KeyPairResourcePolicy.name == p.resource_policy
        ),
        sa.select(Group.allowed_vfolder_hosts).where(Group.id.in_(mine)),
    ]


async def host_permissions(db: AsyncSession, p: Principal, host: str) -> set[str]:
    """What ``p`` may do on the storage host ``host``: the union of what its domain, its
    groups and its keypair resource policy allow there."""
    perms: set[str] = set()
    for query in _host_maps(p):
        for hosts in await db.scalars(query):
            perms.update((hosts or {}).get(host) or [])
    return perms


async def usable_hosts(db: AsyncSession, p: Principal) -> set[str]:
    """Every host on which ``p`` has any permission."""
    names: set[str] = set()
    for query in _host_maps(p):
        for hosts in await db.scalars(query):
            names.update(h for h, perms in (hosts or {}).items() if perms)
    return names


async def require_host(db: AsyncSession, p: Principal, host: str, permission: str) -> None:
    if permission not in await host_permissions(db, p, host):
        raise PermissionDenied(
            f"You are not allowed to {permission.replace('-', ' ')} on the vfolder host "
            f"{host!r}; ask an admin to grant it in your domain, group or resource policy."
        )
