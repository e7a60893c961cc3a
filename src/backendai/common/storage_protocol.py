"""The manager <-> storage wire contract: one pydantic model per payload, defined once.

The storage process (``backendai-server storage``) serves virtual-folder volumes. Two kinds of
caller reach it:

- the manager, on ``/v1/...`` with the shared storage token in ``X-BackendAI-Storage-Token``
  (every request is a POST with one of the JSON bodies below; the answer is JSON too, or a
  problem+json error with the platform's stable codes);
- a user's client, on ``/upload`` (tus 1.0 ``PATCH``/``HEAD``) and ``/download`` (``GET``/
  ``HEAD`` with ``Range``), authorized only by the short-lived ``token`` query parameter that
  the storage process signed when the manager asked it for a transfer (``UploadTicket``).

The manager decides who may do what; the storage process trusts its token holders and keeps
every path inside the folder named in the request (no ``..``, no absolute path, no symlink
followed, no non-regular file opened). Folder directories are laid out under a volume's root
as ``<hex[0:2]>/<hex[2:4]>/<hex[4:]>`` of the folder id (``folder_path``), so that an agent
that mounts the same volume (an NFS export, or the local directory) finds a folder by its id.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

STORAGE_TOKEN_HEADER = "X-BackendAI-Storage-Token"

# The names of the manager-facing routes (all POST, JSON in and out).
ROUTE_VOLUMES = "/v1/volumes"  # {} -> VolumeList
ROUTE_FOLDER_CREATE = "/v1/folder/create"  # FolderCreate -> FolderUsage
ROUTE_FOLDER_DELETE = "/v1/folder/delete"  # FolderRef -> {} (removes the directory tree)
ROUTE_FOLDER_CLONE = "/v1/folder/clone"  # FolderClone -> FolderUsage
ROUTE_FOLDER_USAGE = "/v1/folder/usage"  # FolderRef -> FolderUsage
ROUTE_FILE_LIST = "/v1/folder/file/list"  # ListRequest -> DirListing
ROUTE_FILE_MKDIR = "/v1/folder/file/mkdir"  # MkdirRequest -> {}
ROUTE_FILE_DELETE = "/v1/folder/file/delete"  # DeleteFilesRequest -> {}
ROUTE_FILE_MOVE = "/v1/folder/file/move"  # MoveRequest -> {}
ROUTE_FILE_COPY = "/v1/folder/file/copy"  # CopyRequest -> {}
ROUTE_FILE_UPLOAD = "/v1/folder/file/upload"  # UploadRequest -> TransferTicket
ROUTE_FILE_DOWNLOAD = "/v1/folder/file/download"  # DownloadRequest -> TransferTicket
# The client-facing routes.
ROUTE_UPLOAD = "/upload"
ROUTE_DOWNLOAD = "/download"

# Paths inside a folder: relative, "/"-separated, at most this long and this deep.
MAX_PATH_LENGTH = 4096
MAX_LISTING = 10_000  # entries one listing returns; more sets DirListing.truncated


def folder_path(vfid: uuid.UUID) -> str:
    """A folder's directory relative to its volume's root."""
    h = vfid.hex
    return f"{h[0:2]}/{h[2:4]}/{h[4:]}"


class VolumeInfo(BaseModel):
    name: str = Field(description="The vfolder host name users see, e.g. local.")
    backend: str = Field(description="The volume implementation's short name, e.g. vfs.")
    path: str = Field(description="The volume's root on the storage host.")
    capabilities: list[str] = Field(default_factory=lambda: ["vfolder"])
    capacity_bytes: int = Field(default=0, description="The filesystem's size.")
    used_bytes: int = Field(default=0, description="Used on the filesystem (by anything).")
    quota_bytes: int = Field(
        default=0, description="The most all folders of this volume may hold together; 0: no limit."
    )


class VolumeList(BaseModel):
    volumes: list[VolumeInfo]


class FolderRef(BaseModel):
    volume: str
    vfid: uuid.UUID


class FolderCreate(FolderRef):
    pass


class FolderClone(BaseModel):
    src: FolderRef
    dst: FolderRef


class FolderUsage(BaseModel):
    file_count: int = Field(description="Regular files, directories excluded.")
    used_bytes: int = Field(description="Allocated bytes, as du counts them (sparse files too).")


class ListRequest(FolderRef):
    path: str = Field(default=".", max_length=MAX_PATH_LENGTH)


class DirEntry(BaseModel):
    name: str
    type: Literal["FILE", "DIRECTORY", "SYMLINK", "OTHER"]
    size: int
    mode: int = Field(description="st_mode, type bits included.")
    created: float = Field(description="st_ctime, seconds since the epoch.")
    modified: float = Field(description="st_mtime, seconds since the epoch.")


class DirListing(BaseModel):
    items: list[DirEntry]
    truncated: bool = Field(default=False, description="More than MAX_LISTING entries.")


class MkdirRequest(FolderRef):
    path: str = Field(max_length=MAX_PATH_LENGTH)
    parents: bool = True
    exist_ok: bool = False


class DeleteFilesRequest(FolderRef):
    paths: list[str] = Field(min_length=1, max_length=1000)
    recursive: bool = False


class MoveRequest(FolderRef):
    src: str = Field(max_length=MAX_PATH_LENGTH)
    dst: str = Field(max_length=MAX_PATH_LENGTH, description="An existing directory: into it.")


class CopyRequest(FolderRef):
    src: str = Field(max_length=MAX_PATH_LENGTH)
    dst: str = Field(max_length=MAX_PATH_LENGTH, description="An existing directory: into it.")
    quota_bytes: int = Field(default=0, ge=0, description="The folder's quota; 0: none.")


class UploadRequest(FolderRef):
    path: str = Field(max_length=MAX_PATH_LENGTH)
    size: int = Field(ge=0, description="The whole file's length (tus Upload-Length).")
    quota_bytes: int = Field(
        default=0, ge=0, description="The folder's quota (its own or its owner's policy); 0: none."
    )


class DownloadRequest(FolderRef):
    path: str = Field(max_length=MAX_PATH_LENGTH)


class TransferTicket(BaseModel):
    """What the manager hands the client: ``PATCH``/``GET`` ``url?token=token``."""

    token: str
    url: str = Field(description="Absolute URL of /upload or /download on the storage process.")
