"""Which virtual folders a new session mounts, and where (``-m NAME``, ``-m NAME=PATH``).

At create time the request's ``mounts`` (folder names, or ids) and ``mount_map`` (name ->
path) become the list stored in ``Session.vfolder_mounts``: one dict per folder, ``{"name",
"vfid", "volume", "container_path", "permission", "read_only"}``, which the launcher hands to
the agent as ``VFolderMount``. Each folder is resolved for the session's owner (the caller, or
the user an admin creates it for) at read level, on a host where the owner may
``mount-in-session``; a folder the owner reaches only at ``ro`` is mounted read-only.

A folder goes to ``/home/work/NAME``, or to the path ``mount_map`` gives it: absolute under
``/home/work`` or relative to it. Paths outside ``/home/work``, with ``..``, ``/home/work``
itself, two folders at one path or one inside another are refused (400, naming the folder and
why), before anything is written. Every session also mounts its owner's own dot-folders
(``.ssh``, ``.local``, ...) at ``/home/work/NAME`` unless the request mounts them already.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import InvalidRequest, PermissionDenied
from backendai.common.statuses import VFolderOwnership, VFolderPermission
from backendai.common.vfolders import MOUNT_ROOT, HostPermission, is_dot_folder
from backendai.manager.db.models import VFolder
from backendai.manager.services import vfolder_access
from backendai.manager.services.auth import Principal
from backendai.manager.services.session_checks import Owner
from backendai.manager.services.vfolder_access import READY, FolderAccess, Need

_ROOT = PurePosixPath(MOUNT_ROOT)


def owner_principal(caller: Principal, owner: Owner) -> Principal:
    """The principal folders are resolved for: the caller, or the owner an admin creates a
    session for (with the owner's role, domain and policy, never the admin's reach)."""
    if caller.access_key == owner.access_key:
        return caller
    return replace(
        caller, access_key=owner.access_key, secret_key="", is_admin_key=False,
        user_uuid=owner.user_uuid, email=owner.email, role=owner.role,
        domain_name=owner.domain_name, resource_policy=owner.resource_policy,
    )  # fmt: skip


def _refused(name: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"Cannot mount the virtual folder {name!r}: {why}.", data={"folder": name, "reason": why}
    )


def container_path(name: str, target: str | None) -> str:
    """Where ``name`` is mounted: ``/home/work/NAME``, or ``target`` (absolute under
    /home/work, or relative to it); refused with the reason otherwise."""
    if target is None or target == "":
        target = name
    if any(ord(c) < 32 or c == "\x7f" for c in target):
        raise _refused(name, "its mount path contains a control character")
    path = PurePosixPath(target)
    if ".." in path.parts:
        raise _refused(name, f"its mount path {target!r} contains '..'")
    if not path.is_absolute():
        path = _ROOT / path
    if path == _ROOT:
        raise _refused(name, f"it cannot be mounted at {MOUNT_ROOT} itself")
    if not path.is_relative_to(_ROOT):
        raise _refused(name, f"its mount path {target!r} is not under {MOUNT_ROOT}")
    return str(path)


def _entry(access: FolderAccess, path: str) -> dict[str, Any]:
    f = access.folder
    read_only = access.permission is VFolderPermission.READ_ONLY
    return {
        "name": f.name, "vfid": str(f.id), "volume": f.host, "container_path": path,
        "permission": access.permission.value, "read_only": read_only,
    }  # fmt: skip


def _overlap(a: PurePosixPath, b: PurePosixPath) -> bool:
    return a.is_relative_to(b) or b.is_relative_to(a)


def _check_overlaps(entries: Sequence[dict[str, Any]]) -> None:
    for i, a in enumerate(entries):
        pa = PurePosixPath(a["container_path"])
        for b in entries[:i]:
            pb = PurePosixPath(b["container_path"])
            if pa == pb:
                raise _refused(
                    a["name"], f"{b['name']!r} is mounted at {pa} too (duplicate mount path)"
                )
            if pa.is_relative_to(pb) or pb.is_relative_to(pa):
                inner, outer = (a, b) if pa.is_relative_to(pb) else (b, a)
                raise _refused(
                    a["name"], f"{inner['container_path']} ({inner['name']!r}) would be inside "
                    f"{outer['container_path']} ({outer['name']!r}); mounts may not nest",
                )  # fmt: skip


async def _mountable(db: AsyncSession, owner: Principal, ref: str) -> FolderAccess:
    access = await vfolder_access.resolve(db, owner, ref, Need.READ)
    host = access.folder.host
    if HostPermission.MOUNT.value not in await vfolder_access.host_permissions(db, owner, host):
        raise PermissionDenied(
            f"Cannot mount the virtual folder {access.folder.name!r}: you are not allowed to "
            f"mount in session on the vfolder host {host!r}; ask an admin to grant "
            "'mount-in-session' in your domain, group or resource policy.",
            data={"folder": access.folder.name, "reason": "mount-in-session not allowed"},
        )
    return access


async def _dot_folders(db: AsyncSession, owner: Principal) -> list[VFolder]:
    rows = await db.scalars(
        sa.select(VFolder)
        .where(
            VFolder.ownership_type == VFolderOwnership.USER,
            VFolder.user == owner.user_uuid,
            VFolder.status == READY,
            VFolder.name.startswith("."),
        )
        .order_by(VFolder.name)
    )
    return [f for f in rows if is_dot_folder(f.name)]


async def resolve_mounts(
    db: AsyncSession, owner: Principal, mounts: Sequence[str], mount_map: Mapping[str, str]
) -> list[dict[str, Any]]:
    """What ``Session.vfolder_mounts`` holds for a session of ``owner`` asking for ``mounts``
    at the paths of ``mount_map``; its dot-folders added. Refused before anything is written:
    a folder it may not see (404), may not mount (403), or a bad path (400)."""
    names = list(dict.fromkeys(mounts))
    for key in mount_map:
        if key not in names:
            raise _refused(key, "mount_map gives it a path but mounts does not name it")
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for ref in names:
        access = await _mountable(db, owner, ref)
        path = container_path(access.folder.name, mount_map.get(ref))
        if str(access.folder.id) in seen:
            raise _refused(access.folder.name, "it is named twice (by name and by id)")
        seen.add(str(access.folder.id))
        entries.append(_entry(access, path))
    for folder in await _dot_folders(db, owner):
        if str(folder.id) in seen:
            continue
        at = PurePosixPath(container_path(folder.name, None))
        if any(_overlap(at, PurePosixPath(e["container_path"])) for e in entries):
            continue  # the request put another folder at (or in, or over) this path: it wins
        try:
            access = await _mountable(db, owner, str(folder.id))
        except PermissionDenied:
            continue  # not mountable on its host: a session still starts without it
        entries.append(_entry(access, str(at)))
        seen.add(str(folder.id))
    _check_overlaps(entries)
    return entries
