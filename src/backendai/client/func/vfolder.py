"""``session.VFolder``: virtual folders (``/folders``, see ``docs/vfolders.md``).

Functions that name no folder are called on the group (``session.VFolder.list()``); the
others on a folder (``session.VFolder("myfolder").list_files()``), named by its name or id.
File transfers go straight to the storage process with the ticket the manager hands out
(:mod:`backendai.client.func.vfolder_transfer`): uploads in tus 1.0 ``PATCH`` chunks that
resume after an interruption, downloads streamed to ``FILE.part`` and resumed with ``Range``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from backendai.client.exceptions import BackendClientError
from backendai.client.func.binding import FunctionGroup, M, Runner, api_function
from backendai.client.func.vfolder_transfer import (
    DEFAULT_CHUNK_SIZE,
    ProgressCallback,
    Transfer,
    download_files,
    upload_files,
)
from backendai.client.request import Request, Response

if TYPE_CHECKING:
    from backendai.client.session import AsyncSession

__all__ = ["DEFAULT_CHUNK_SIZE", "ProgressCallback", "VFolder"]

# Spelled here: inside the class, ``list`` is the method.
Items = list[dict[str, Any]]
Names = list[str]
Paths = list[Path]


def _json(resp: Response) -> Any:
    """The answer's JSON, or ``{}`` for an empty body (204)."""
    return resp.json() if resp.body.strip() else {}


def _dict(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BackendClientError(f"The server's answer is not a JSON object: {data!r}")
    return data


class VFolder(FunctionGroup[M]):
    """Virtual-folder functions; an instance with a ``name`` is one folder."""

    def __init__(
        self, session: AsyncSession, runner: Runner | None = None, *, name: str | None = None
    ) -> None:
        super().__init__(session, runner)
        self.name = name

    def __call__(self, name: str) -> VFolder[M]:
        """The folder named ``name`` (or with this id)."""
        return type(self)(self.session, self._runner, name=name)

    @property
    def ref(self) -> str:
        if not self.name:
            raise BackendClientError("This VFolder object names no folder.")
        return quote(self.name, safe="")

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        return _json(await Request(self.session, method, path, json=body).fetch())

    async def _on(self, method: str, action: str, body: Any = None) -> Any:
        suffix = f"/{action}" if action else ""
        return await self._call(method, f"/folders/{self.ref}{suffix}", body)

    # -- the folders -------------------------------------------------------------------

    @api_function
    async def create(
        self,
        name: str,
        host: str | None = None,
        *,
        group: str | None = None,
        usage_mode: str = "general",
        permission: str = "rw",
        quota: str | int = "0",
        cloneable: bool = False,
        unmanaged_path: str | None = None,
    ) -> dict[str, Any]:
        """Create a folder (on the default host when ``host`` is None); the new folder."""
        body = {
            "name": name, "host": host, "unmanaged_path": unmanaged_path, "group": group,
            "usage_mode": usage_mode, "permission": permission, "quota": str(quota),
            "cloneable": cloneable,
        }  # fmt: skip
        return _dict(await self._call("POST", "/folders", body))

    @api_function
    async def list(
        self, all: bool = False, *, trash: bool = False, group_id: str | None = None
    ) -> Items:
        """The folders the caller uses (``all``: every folder, for admins; ``trash``: the
        trashed ones)."""
        body = {"all": all, "trash": trash, "group_id": group_id}
        data = await self._call("GET", "/folders", body)
        if not isinstance(data, list):
            raise BackendClientError(f"The folder list is not a JSON list: {data!r}")
        return data

    @api_function
    async def list_hosts(self) -> dict[str, Any]:
        """``{"default": host, "allowed": [host, ...], "volume_info": {...}}``."""
        return _dict(await self._call("GET", "/folders/_/hosts"))

    @api_function
    async def list_all_hosts(self) -> dict[str, Any]:
        """Every volume's host (admins): ``{"default", "allowed"}``."""
        return _dict(await self._call("GET", "/folders/_/all_hosts"))

    @api_function
    async def list_allowed_types(self) -> Names:
        data = await self._call("GET", "/folders/_/allowed_types")
        return [str(t) for t in data] if isinstance(data, list) else []

    @api_function
    async def info(self) -> dict[str, Any]:
        return _dict(await self._on("GET", ""))

    @api_function
    async def rename(self, new_name: str) -> None:
        await self._on("POST", "rename", {"new_name": new_name})

    @api_function
    async def update_options(
        self, *, permission: str | None = None, cloneable: bool | None = None
    ) -> None:
        """Change what is given; what is None stays as it is."""
        body: dict[str, Any] = {}
        if permission is not None:
            body["permission"] = permission
        if cloneable is not None:
            body["cloneable"] = cloneable
        await self._on("POST", "update-options", body)

    @api_function
    async def delete(self) -> None:
        """Move the folder to the trash."""
        await self._on("DELETE", "")

    @api_function
    async def restore(self) -> dict[str, Any]:
        """Bring a trashed folder back."""
        return _dict(await self._on("POST", "restore"))

    @api_function
    async def purge(self) -> None:
        """Remove a trashed folder and its data for good."""
        await self._on("DELETE", "purge")

    @api_function
    async def clone(
        self,
        target_name: str,
        target_host: str | None = None,
        *,
        usage_mode: str = "general",
        permission: str = "rw",
        cloneable: bool = False,
    ) -> dict[str, Any]:
        body = {
            "target_name": target_name, "target_host": target_host,
            "usage_mode": usage_mode, "permission": permission, "cloneable": cloneable,
        }  # fmt: skip
        return _dict(await self._on("POST", "clone", body))

    # -- files -------------------------------------------------------------------------

    @api_function
    async def list_files(self, path: str = ".") -> dict[str, Any]:
        """``{"items": [{name, type, size, mode, created, modified}], "files": "<JSON>"}``."""
        return _dict(await self._on("GET", "files", {"path": path}))

    @api_function
    async def mkdir(self, path: str, *, parents: bool = True, exist_ok: bool = False) -> None:
        await self._on("POST", "mkdir", {"path": path, "parents": parents, "exist_ok": exist_ok})

    @api_function
    async def delete_files(self, files: Sequence[str], *, recursive: bool = False) -> None:
        await self._on("DELETE", "delete_files", {"files": list(files), "recursive": recursive})

    @api_function
    async def rename_file(self, target_path: str, new_name: str) -> None:
        await self._on("POST", "rename_file", {"target_path": target_path, "new_name": new_name})

    @api_function
    async def move_file(self, src: str, dst: str) -> None:
        """Move ``src`` into the directory ``dst``, or to the new path ``dst``."""
        await self._on("POST", "move_file", {"src": src, "dst": dst})

    @api_function
    async def copy_file(self, src: str, dst: str) -> None:
        """Copy ``src`` on the server, into the directory ``dst`` or to the new path."""
        await self._on("POST", "copy_file", {"src": src, "dst": dst})

    @api_function
    async def request_upload(self, path: str, size: int) -> dict[str, Any]:
        """A tus upload ticket: ``{"token", "url"}``."""
        return _dict(await self._on("POST", "request-upload", {"path": path, "size": size}))

    @api_function
    async def request_download(self, path: str) -> dict[str, Any]:
        """A download ticket: ``{"token", "url"}``."""
        return _dict(await self._on("POST", "request-download", {"path": path}))

    @api_function
    async def upload(
        self,
        files: Sequence[str | Path],
        *,
        basedir: str | Path | None = None,
        dest: str = "",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: ProgressCallback | None = None,
        state_dir: Path | None = None,
    ) -> Names:
        """Upload local files, keeping their paths relative to ``basedir`` (default: the
        current directory) under ``dest`` in the folder; the folder paths written.

        An interrupted upload is resumed by the next call with the same file (same size and
        modification time): its ticket is kept in the client's state directory.
        """
        return await upload_files(
            self._transfer(state_dir), files, basedir=basedir, dest=dest,
            chunk_size=chunk_size, progress=progress,
        )  # fmt: skip

    @api_function
    async def download(
        self,
        files: Sequence[str],
        *,
        basedir: str | Path | None = None,
        dest: str | Path | None = None,
        overwrite: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: ProgressCallback | None = None,
        state_dir: Path | None = None,
    ) -> Paths:
        """Download folder files to ``basedir/PATH`` (default: the current directory), or
        to ``dest`` for a single file; the local paths written.

        An existing file is refused unless ``overwrite``; data arrives in ``FILE.part``,
        which a later call resumes, and is renamed into place when complete.
        """
        return await download_files(
            self._transfer(state_dir), files, basedir=basedir, dest=dest,
            overwrite=overwrite, chunk_size=chunk_size, progress=progress,
        )  # fmt: skip

    def _transfer(self, state_dir: Path | None) -> Transfer:
        folder = self.ref

        async def ask_upload(path: str, size: int) -> dict[str, Any]:
            return _dict(await self._on("POST", "request-upload", {"path": path, "size": size}))

        async def ask_download(path: str) -> dict[str, Any]:
            return _dict(await self._on("POST", "request-download", {"path": path}))

        return Transfer(
            session=self.session, folder=folder, state_dir=state_dir,
            request_upload=ask_upload, request_download=ask_download,
        )  # fmt: skip

    # -- sharing -----------------------------------------------------------------------

    @api_function
    async def invite(self, perm: str, emails: Sequence[str]) -> dict[str, Any]:
        """``{"invited_ids": [email, ...]}``."""
        return _dict(await self._on("POST", "invite", {"perm": perm, "user_ids": list(emails)}))

    @api_function
    async def invitations(self) -> dict[str, Any]:
        """``{"invitations": [{id, inviter, invitee, perm, state, vfolder_id, ...}]}``."""
        return _dict(await self._call("GET", "/folders/invitations/list"))

    @api_function
    async def accept_invitation(self, inv_id: str) -> None:
        await self._call("POST", "/folders/invitations/accept", {"inv_id": inv_id})

    @api_function
    async def delete_invitation(self, inv_id: str) -> None:
        """Reject (as the invitee) or cancel (as the inviter) an invitation."""
        await self._call("DELETE", "/folders/invitations/delete", {"inv_id": inv_id})

    @api_function
    async def share(self, permission: str, emails: Sequence[str]) -> dict[str, Any]:
        """Share with users at once (no invitation): ``{"shared_emails": [...]}``."""
        body = {"permission": permission, "emails": list(emails)}
        return _dict(await self._on("POST", "share", body))

    @api_function
    async def unshare(self, emails: Sequence[str]) -> dict[str, Any]:
        """``{"unshared_emails": [...]}``."""
        return _dict(await self._on("DELETE", "unshare", {"emails": list(emails)}))

    @api_function
    async def leave(self) -> None:
        """Drop a folder that another user shared with the caller."""
        await self._on("POST", "leave")
