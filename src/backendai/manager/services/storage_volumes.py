"""Storage volumes (``admin storage-list``, ``admin storage``): the vfolder hosts the storage
process serves, as it reports them (``/v1/volumes``): name, backend, root path, capabilities
and how full the filesystem is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backendai.common.errors import NotFound
from backendai.common.storage_protocol import VolumeInfo
from backendai.manager import authz
from backendai.manager.authz import Action, Resource
from backendai.manager.services.auth import Principal
from backendai.manager.storage_client import StorageClient


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


def _volume(v: VolumeInfo) -> StorageVolume:
    usage = {"capacity_bytes": v.capacity_bytes, "used_bytes": v.used_bytes}
    if v.quota_bytes:
        usage["quota_bytes"] = v.quota_bytes
    return StorageVolume(
        id=v.name, backend=v.backend, path=v.path, fsprefix="",
        capabilities=tuple(v.capabilities),
        hardware_metadata={"status": "healthy", "status_info": None}, usage=usage,
    )  # fmt: skip


async def list_volumes(principal: Principal, storage: StorageClient) -> list[StorageVolume]:
    authz.require_any(principal, Resource.STORAGE, Action.LIST)
    return [_volume(v) for v in (await storage.volumes()).volumes]


async def get_volume(principal: Principal, storage: StorageClient, host: str) -> StorageVolume:
    authz.require_any(principal, Resource.STORAGE, Action.LIST)
    for v in (await storage.volumes()).volumes:
        if v.name == host:
            return _volume(v)
    raise NotFound(f"No storage volume (vfolder host) named {host!r}.")
