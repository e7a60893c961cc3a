"""Virtual-folder vocabulary shared by the manager, the SDK and the CLI: host permissions,
folder permission levels, and what a folder name or a mount target may be."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from backendai.common.statuses import VFolderPermission


class HostPermission(StrEnum):
    """What a storage host named in ``allowed_vfolder_hosts`` lets its users do. A user's
    permissions on a host are the union of its domain's, its groups' and its keypair
    resource policy's."""

    CREATE = "create-vfolder"
    MOUNT = "mount-in-session"
    UPLOAD = "upload-file"
    DOWNLOAD = "download-file"
    MODIFY = "modify-vfolder"
    DELETE = "delete-vfolder"
    INVITE = "invite-others"


VFOLDER_HOST_PERMISSIONS: tuple[str, ...] = tuple(p.value for p in HostPermission)

# ro < rw < wd: each level may do what the ones before it may.
PERMISSION_LEVEL = {
    VFolderPermission.READ_ONLY: 1,
    VFolderPermission.READ_WRITE: 2,
    VFolderPermission.RW_DELETE: 3,
}

# A folder name: 1-64 characters of letters, digits, "_", "-" and "."; "." and ".." are not
# names. A leading dot marks a dot-folder (.ssh, .local, ...) that every session of its
# owner mounts at /home/work/NAME.
FOLDER_NAME = re.compile(r"[\w.-]{1,64}", re.ASCII)
MOUNT_ROOT = "/home/work"


def folder_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a folder's name, or None."""
    if not FOLDER_NAME.fullmatch(name) or name in (".", ".."):
        return (
            f"{name!r} is not a valid folder name: use 1 to 64 letters, digits, '_', '-' or "
            "'.' (not '.' or '..')."
        )
    return None


def is_dot_folder(name: str) -> bool:
    return name.startswith(".") and folder_name_problem(name) is None


def parse_host_grants(entries: Iterable[str]) -> dict[str, list[str]]:
    """``allowed_vfolder_hosts`` as admins write them (``local`` for every permission on the
    host, ``local:download-file+mount-in-session`` for some), as the tables keep them."""
    grants: dict[str, list[str]] = {}
    for entry in entries:
        host, sep, perms = entry.partition(":")
        if not host or (sep and not perms):
            raise ValueError(
                f"{entry!r} is not a vfolder host grant: write HOST, or HOST:PERM+PERM with "
                f"permissions among {', '.join(VFOLDER_HOST_PERMISSIONS)}."
            )
        if not sep:
            grants[host] = list(VFOLDER_HOST_PERMISSIONS)
            continue
        wanted = perms.split("+")
        unknown = [p for p in wanted if p not in VFOLDER_HOST_PERMISSIONS]
        if unknown:
            raise ValueError(
                f"Unknown vfolder host permission {unknown[0]!r} in {entry!r}; the permissions "
                f"are {', '.join(VFOLDER_HOST_PERMISSIONS)}."
            )
        grants[host] = [p for p in VFOLDER_HOST_PERMISSIONS if p in wanted]
    return grants


def format_host_grants(grants: dict[str, Any] | None) -> list[str]:
    """The stored grants as ``parse_host_grants`` reads them: a host with every permission by
    its name alone, one with some as ``HOST:PERM+PERM``."""
    shown = []
    for host, perms in sorted((grants or {}).items()):
        if set(VFOLDER_HOST_PERMISSIONS) <= set(perms or []):
            shown.append(host)
        else:
            shown.append(f"{host}:{'+'.join(p for p in VFOLDER_HOST_PERMISSIONS if p in perms)}")
    return shown
