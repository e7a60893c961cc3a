"""The manager's side of the storage API (``backendai.common.storage_protocol``).

Every call is a POST with the shared storage token and one of the protocol's JSON bodies.
The storage process answers problem+json with the platform's stable codes; they come back here
as the same domain errors (400 invalid input, 404 a missing file or folder, 409 a conflict,
413 a quota), and a storage process that cannot be reached (or fails) is a 503 with
Retry-After, so that clients try again once it is back.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError

from backendai.common import errors
from backendai.common.private import shared_token
from backendai.common.storage_protocol import (
    ROUTE_FILE_COPY,
    ROUTE_FILE_DELETE,
    ROUTE_FILE_DOWNLOAD,
    ROUTE_FILE_LIST,
    ROUTE_FILE_MKDIR,
    ROUTE_FILE_MOVE,
    ROUTE_FILE_UPLOAD,
    ROUTE_FOLDER_CLONE,
    ROUTE_FOLDER_CREATE,
    ROUTE_FOLDER_DELETE,
    ROUTE_FOLDER_USAGE,
    ROUTE_VOLUMES,
    STORAGE_TOKEN_HEADER,
    CopyRequest,
    DeleteFilesRequest,
    DirListing,
    DownloadRequest,
    FolderClone,
    FolderCreate,
    FolderRef,
    FolderUsage,
    ListRequest,
    MkdirRequest,
    MoveRequest,
    TransferTicket,
    UploadRequest,
    VolumeList,
)
from backendai.manager.settings import ManagerSettings

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

UNREACHABLE_RETRY_AFTER = 5  # seconds a client is told to wait for a storage process
REQUEST_TIMEOUT = 120.0  # a clone or a purge of a big folder takes a while


def load_storage_token(settings: ManagerSettings) -> str:
    """The configured token, else the one kept in the data dir (created on first use)."""
    if settings.storage_token:
        return settings.storage_token
    return shared_token(settings.storage_token_file)


class StorageError(errors.ServiceUnavailable):
    code = "storage-unavailable"
    title = "The storage process could not be reached; try again shortly."


def _problem(body: bytes) -> tuple[str, str | None, Any]:
    """(code, msg, data) of a problem+json answer; the code is the slug of its type."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "", body[:300].decode("utf-8", "replace") or None, None
    if not isinstance(doc, dict):
        return "", None, None
    code = str(doc.get("type") or "").rsplit("/", 1)[-1]
    msg = doc.get("msg") or doc.get("title")
    return code, str(msg) if msg is not None else None, doc.get("data")


def error_of(status: int, body: bytes) -> errors.PlatformError:
    """The platform's error for a storage answer that is not 2xx."""
    code, msg, data = _problem(body)
    if status == 413 or code == "vfolder-quota-exceeded":
        return errors.VFolderQuotaExceeded(msg, data=data)
    if status == 404:
        return errors.NotFound(msg or "No such file or directory in the folder.", data=data)
    if status == 409:
        if code == errors.VFolderInUse.code:
            return errors.VFolderInUse(msg, data=data)
        return errors.Conflict(msg, data=data)
    if status in (401, 403):
        log.error("the storage process refused the manager's token: %s", msg)
        return StorageError(
            "The storage process refused the manager's token (storage_token differs).",
            retry_after=UNREACHABLE_RETRY_AFTER,
        )
    if 400 <= status < 500:
        if code == errors.AlreadyExists.code:  # a path that exists (mkdir, move, copy)
            return errors.AlreadyExists(msg, data=data)
        return errors.InvalidRequest(msg, data=data)
    return StorageError(
        f"The storage process failed ({status}): {msg or 'no detail'}",
        retry_after=UNREACHABLE_RETRY_AFTER,
    )


class StorageClient:
    def __init__(self, url: str, token: str, timeout: float = REQUEST_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=10)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: ManagerSettings) -> StorageClient:
        return cls(settings.storage_url, load_storage_token(settings))

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={STORAGE_TOKEN_HEADER: self.token})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _post(self, route: str, payload: BaseModel | None, answer: type[M]) -> M:
        body = await self._call(route, payload)
        try:
            return answer.model_validate_json(body or b"{}")
        except ValidationError as e:
            raise StorageError(
                f"The storage process answered {route} with an unexpected body.",
                retry_after=UNREACHABLE_RETRY_AFTER,
            ) from e

    async def _call(self, route: str, payload: BaseModel | None) -> bytes:
        data = payload.model_dump(mode="json") if payload is not None else {}
        try:
            async with self._http().post(
                self.url + route, json=data, timeout=self._timeout
            ) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as e:
            raise StorageError(
                f"The storage process at {self.url} did not answer ({type(e).__name__}).",
                retry_after=UNREACHABLE_RETRY_AFTER,
            ) from e
        if status >= 300:
            raise error_of(status, body)
        return body

    async def volumes(self) -> VolumeList:
        return await self._post(ROUTE_VOLUMES, None, VolumeList)

    async def create_folder(self, req: FolderCreate) -> FolderUsage:
        return await self._post(ROUTE_FOLDER_CREATE, req, FolderUsage)

    async def delete_folder(self, req: FolderRef) -> None:
        await self._call(ROUTE_FOLDER_DELETE, req)

    async def clone_folder(self, req: FolderClone) -> FolderUsage:
        return await self._post(ROUTE_FOLDER_CLONE, req, FolderUsage)

    async def usage(self, req: FolderRef) -> FolderUsage:
        return await self._post(ROUTE_FOLDER_USAGE, req, FolderUsage)

    async def list_files(self, req: ListRequest) -> DirListing:
        return await self._post(ROUTE_FILE_LIST, req, DirListing)

    async def mkdir(self, req: MkdirRequest) -> None:
        await self._call(ROUTE_FILE_MKDIR, req)

    async def delete_files(self, req: DeleteFilesRequest) -> None:
        await self._call(ROUTE_FILE_DELETE, req)

    async def move(self, req: MoveRequest) -> None:
        await self._call(ROUTE_FILE_MOVE, req)

    async def copy(self, req: CopyRequest) -> None:
        await self._call(ROUTE_FILE_COPY, req)

    async def upload(self, req: UploadRequest) -> TransferTicket:
        return await self._post(ROUTE_FILE_UPLOAD, req, TransferTicket)

    async def download(self, req: DownloadRequest) -> TransferTicket:
        return await self._post(ROUTE_FILE_DOWNLOAD, req, TransferTicket)
