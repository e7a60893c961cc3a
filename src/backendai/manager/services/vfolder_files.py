"""Files inside virtual folders: list, mkdir, delete, rename, move, copy, and the transfer
tickets with which a client uploads (tus) to or downloads from the storage process directly.

The manager checks who may do what (the folder level and the host permissions) and hands the
storage process a request for that one folder; the storage process keeps every path inside it.
"""

from __future__ import annotations

import json
import posixpath
import stat
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.errors import InvalidRequest
from backendai.common.storage_protocol import (
    MAX_PATH_LENGTH,
    CopyRequest,
    DeleteFilesRequest,
    DirListing,
    DownloadRequest,
    ListRequest,
    MkdirRequest,
    MoveRequest,
    TransferTicket,
    UploadRequest,
)
from backendai.common.vfolders import HostPermission
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import VFolder
from backendai.manager.services import vfolder_access as access
from backendai.manager.services.auth import Principal
from backendai.manager.services.vfolder_access import FolderAccess, Need
from backendai.manager.services.vfolder_rules import policy_limits
from backendai.manager.storage_client import StorageClient


def check_path(path: str, what: str = "path") -> str:
    """A path inside a folder: relative, no NUL or newline, not past the protocol's length.
    The storage process checks it again (``..`` that leaves the folder, symlinks)."""
    if not path or len(path) > MAX_PATH_LENGTH or any(c in path for c in "\x00\n\r"):
        raise InvalidRequest(f"Invalid {what} {path[:80]!r}.", data={what: "invalid path"})
    if posixpath.isabs(path):
        raise InvalidRequest(
            f"The {what} {path[:80]!r} must be relative to the folder.", data={what: "absolute"}
        )
    if ".." in path.split("/"):
        raise InvalidRequest(
            f"The {what} {path[:80]!r} may not contain '..'.", data={what: "contains .."}
        )
    return path


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def render_listing(listing: DirListing) -> dict[str, Any]:
    """``items`` (manager >= 20.09) and ``files``, a JSON string (what client 20.9.9 reads)."""
    items = [
        {"name": e.name, "type": e.type, "size": e.size, "mode": oct(stat.S_IMODE(e.mode))[2:],
         "created": _iso(e.created), "modified": _iso(e.modified)}
        for e in listing.items
    ]  # fmt: skip
    files = [
        {"filename": e.name, "size": e.size, "mode": stat.filemode(e.mode),
         "ctime": e.created, "atime": 0, "mtime": e.modified}
        for e in listing.items
    ]  # fmt: skip
    out: dict[str, Any] = {"items": items, "files": json.dumps(files)}
    if listing.truncated:
        out["truncated"] = True
    return out


class VFolderFileService:
    def __init__(self, db: async_sessionmaker[AsyncSession], storage: StorageClient) -> None:
        self._db = db
        self.storage = storage

    async def _reach(
        self, p: Principal, ref: str, need: Need, host_permission: str | None = None
    ) -> FolderAccess:
        async with self._db() as db:
            a = await access.resolve(db, p, ref, need)
            if host_permission is not None:
                await access.require_host(db, p, a.folder.host, host_permission)
            return a

    async def _touch(self, a: FolderAccess) -> None:
        """Record when the folder was last used (one UPDATE)."""
        async with self._db() as db, db.begin():
            await db.execute(
                sa.update(VFolder).where(VFolder.id == a.folder.id).values(last_used=utcnow())
            )

    async def ls(self, p: Principal, ref: str, path: str) -> dict[str, Any]:
        a = await self._reach(p, ref, Need.READ)
        path = check_path(path or ".")
        f = a.folder
        listing = await self.storage.list_files(ListRequest(volume=f.host, vfid=f.id, path=path))
        return render_listing(listing)

    async def mkdir(self, p: Principal, ref: str, path: str, parents: bool, exist_ok: bool) -> None:
        a = await self._reach(p, ref, Need.WRITE)
        f = a.folder
        await self.storage.mkdir(MkdirRequest(
            volume=f.host, vfid=f.id, path=check_path(path), parents=parents, exist_ok=exist_ok
        ))  # fmt: skip
        await self._touch(a)

    async def delete_files(self, p: Principal, ref: str, files: list[str], recursive: bool) -> None:
        a = await self._reach(p, ref, Need.WRITE)
        f = a.folder
        paths = [check_path(x, "files") for x in files]
        await self.storage.delete_files(
            DeleteFilesRequest(volume=f.host, vfid=f.id, paths=paths, recursive=recursive)
        )
        await self._touch(a)

    async def rename_file(self, p: Principal, ref: str, target_path: str, new_name: str) -> None:
        if not new_name or "/" in new_name or new_name in (".", ".."):
            raise InvalidRequest(
                f"Invalid new_name {new_name[:80]!r}: a file name, without '/'.",
                data={"new_name": "not a file name"},
            )
        target = check_path(target_path, "target_path")
        dst = posixpath.join(posixpath.dirname(target.rstrip("/")), new_name)
        await self.move_file(p, ref, target, check_path(dst, "new_name"))

    async def move_file(self, p: Principal, ref: str, src: str, dst: str) -> None:
        a = await self._reach(p, ref, Need.WRITE)
        f = a.folder
        await self.storage.move(MoveRequest(
            volume=f.host, vfid=f.id, src=check_path(src, "src"), dst=check_path(dst, "dst")
        ))  # fmt: skip
        await self._touch(a)

    async def copy_file(self, p: Principal, ref: str, src: str, dst: str) -> None:
        a = await self._reach(p, ref, Need.WRITE)
        f = a.folder
        quota = await self._quota(p, a)
        await self.storage.copy(CopyRequest(
            volume=f.host, vfid=f.id, src=check_path(src, "src"), dst=check_path(dst, "dst"),
            quota_bytes=quota,
        ))  # fmt: skip
        await self._touch(a)

    async def _quota(self, p: Principal, a: FolderAccess) -> int:
        """The folder's own quota, else its owner's policy cap (the caller's, for a group
        folder or when the owner is not the caller: the smaller of what is known)."""
        if a.folder.max_size > 0:
            return a.folder.max_size
        async with self._db() as db:
            _, cap = await policy_limits(db, p.resource_policy)
        return cap

    async def request_upload(self, p: Principal, ref: str, path: str, size: int) -> TransferTicket:
        a = await self._reach(p, ref, Need.WRITE, HostPermission.UPLOAD.value)
        f = a.folder
        quota = await self._quota(p, a)
        ticket = await self.storage.upload(UploadRequest(
            volume=f.host, vfid=f.id, path=check_path(path), size=size, quota_bytes=quota
        ))  # fmt: skip
        await self._touch(a)
        return ticket

    async def request_download(self, p: Principal, ref: str, path: str) -> TransferTicket:
        a = await self._reach(p, ref, Need.READ, HostPermission.DOWNLOAD.value)
        f = a.folder
        ticket = await self.storage.download(
            DownloadRequest(volume=f.host, vfid=f.id, path=check_path(path))
        )
        await self._touch(a)
        return ticket
