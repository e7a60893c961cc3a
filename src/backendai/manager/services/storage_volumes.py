"""Storage volumes (``admin storage-list``, ``admin storage``): the vfolder hosts the platform
offers, as the domains' ``allowed_vfolder_hosts`` name them; each is a local filesystem volume
under the manager's data directory."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import NotFound
from backendai.manager import authz
from backendai.manager.authz import Action, Resource
from backendai.manager.db.models import Domain, Group, KeyPairResourcePolicy
from backendai.manager.services.auth import Principal

BACKEND = "vfs"
CAPABILITIES = ("vfolder",)
VOLUMES_DIR = "vfolders"


@dataclass(frozen=True)
class StorageVolume:
    id: str
    backend: str
    path: str
    fsprefix: str
    capabilities: tuple[str, ...]
    hardware_metadata: dict[str, Any] = field(default_factory=dict)
    performance_metric: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)


async def _hosts(db: AsyncSession) -> list[str]:
    hosts: set[str] = set()
    for column in (
        Domain.allowed_vfolder_hosts,
        Group.allowed_vfolder_hosts,
        KeyPairResourcePolicy.allowed_vfolder_hosts,
    ):
        for value in await db.scalars(sa.select(column)):
            hosts.update(value or {})
    return sorted(hosts)


def _volume(host: str, data_dir: Path) -> StorageVolume:
    path = data_dir / VOLUMES_DIR / host
    usage: dict[str, Any] = {}
    if path.is_dir():
        total, used, _ = shutil.disk_usage(path)
        usage = {"capacity_bytes": total, "used_bytes": used}
    return StorageVolume(
        id=host, backend=BACKEND, path=str(path), fsprefix="", capabilities=CAPABILITIES,
        hardware_metadata={"status": "healthy", "status_info": None}, usage=usage,
    )  # fmt: skip


async def list_volumes(
    db: AsyncSession, principal: Principal, data_dir: Path
) -> list[StorageVolume]:
    authz.require_any(principal, Resource.STORAGE, Action.LIST)
    return [_volume(h, data_dir) for h in await _hosts(db)]


async def get_volume(
    db: AsyncSession, principal: Principal, data_dir: Path, host: str
) -> StorageVolume:
    authz.require_any(principal, Resource.STORAGE, Action.LIST)
    if host not in await _hosts(db):
        raise NotFound(f"No storage volume (vfolder host) named {host!r}.")
    return _volume(host, data_dir)
