"""Volumes: where folders' files live, behind one narrow interface.

Implementations are found by short name in the entry point group ``backendai.storage.volumes``
(``pyproject.toml``; ``vfs`` is a local filesystem). Every method blocks (filesystem calls):
the app runs them in its bounded thread pool, never on the event loop. Paths are the folder-
relative strings of ``storage_protocol``; implementations keep every one inside its folder.
"""

from __future__ import annotations

import logging
import os
import uuid
from importlib.metadata import entry_points
from typing import Protocol

from backendai.common.errors import ConfigurationError
from backendai.common.storage_protocol import DirListing, FolderUsage, VolumeInfo
from backendai.storage.settings import VolumeSettings

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "backendai.storage.volumes"
# Used when the installed metadata predates the group (an editable install not reinstalled).
BUILTIN = {"vfs": "backendai.storage.volumes.vfs:VfsVolume"}


class Volume(Protocol):
    name: str
    quota: int  # bytes all its folders may hold together; 0: none
    fsync: bool  # a finished upload is on disk before it is answered

    def info(self) -> VolumeInfo: ...
    def create_folder(self, vfid: uuid.UUID) -> None: ...
    def delete_folder(self, vfid: uuid.UUID) -> None: ...
    def clone_folder(self, vfid: uuid.UUID, dst: Volume, dst_vfid: uuid.UUID) -> None: ...
    def folder_usage(self, vfid: uuid.UUID) -> FolderUsage: ...
    def volume_used(self) -> int: ...
    def path_usage(self, vfid: uuid.UUID, path: str) -> int: ...
    def list_files(self, vfid: uuid.UUID, path: str) -> DirListing: ...
    def mkdir(self, vfid: uuid.UUID, path: str, parents: bool, exist_ok: bool) -> None: ...
    def delete_files(self, vfid: uuid.UUID, paths: list[str], recursive: bool) -> None: ...
    def move(self, vfid: uuid.UUID, src: str, dst: str) -> None: ...
    def copy(self, vfid: uuid.UUID, src: str, dst: str) -> None: ...

    # Uploads are written aside (a temp file per upload id) and renamed into place whole.
    def prepare_upload(self, vfid: uuid.UUID, path: str, upload_id: str, size: int) -> None: ...
    def upload_offset(self, upload_id: str) -> int | None: ...
    def open_upload(self, upload_id: str) -> int: ...
    def truncate_upload(self, upload_id: str, offset: int) -> None: ...
    def discard_upload(self, upload_id: str) -> None: ...
    def finish_upload(self, vfid: uuid.UUID, path: str, upload_id: str) -> None: ...
    def expire_uploads(self, max_age: float) -> int: ...

    # Downloads read from the descriptor opened here; stat_path tells whether the path moved.
    def open_download(self, vfid: uuid.UUID, path: str) -> tuple[int, os.stat_result]: ...
    def stat_path(self, vfid: uuid.UUID, path: str) -> os.stat_result | None: ...


class VolumeFactory(Protocol):
    def __call__(
        self, name: str, settings: VolumeSettings, owner: tuple[int, int] | None
    ) -> Volume: ...


def load_volume(name: str, settings: VolumeSettings, owner: tuple[int, int] | None) -> Volume:
    """The volume ``name`` built by the implementation its ``backend`` names."""
    factory: VolumeFactory
    found = list(entry_points(group=ENTRY_POINT_GROUP, name=settings.backend))
    if found:
        factory = found[0].load()
    elif settings.backend in BUILTIN:
        module, _, attr = BUILTIN[settings.backend].partition(":")
        factory = getattr(__import__(module, fromlist=[attr]), attr)
    else:
        known = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)} | set(BUILTIN))
        raise ConfigurationError(
            f"Volume {name!r}: unknown backend {settings.backend!r} (known: {', '.join(known)})."
        )
    return factory(name, settings, owner)
