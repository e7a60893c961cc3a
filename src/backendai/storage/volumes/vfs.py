"""``vfs``: a volume that is a directory of the local filesystem (or an NFS export of one).

Folders are ``<root>/<aa>/<bb>/<rest of the id>`` (``storage_protocol.folder_path``), so an
agent that mounts the same root finds a folder by id; uploads in progress are written under
``<root>/.uploads`` (the same filesystem, so finishing one is a rename, never a copy).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
import uuid
from collections.abc import Iterator

from backendai.common.errors import (
    AlreadyExists,
    ConfigurationError,
    InvalidRequest,
    NotAvailable,
    NotFound,
)
from backendai.common.storage_protocol import (
    MAX_LISTING,
    DirEntry,
    DirListing,
    FolderUsage,
    VolumeInfo,
    folder_path,
)
from backendai.storage import trees
from backendai.storage.paths import (
    DIR_FLAGS,
    DIR_MODE,
    check_new_name,
    entry_type,
    lstat_at,
    open_dir,
    open_regular,
    opened_dir,
    split_path,
)
from backendai.storage.settings import VolumeSettings
from backendai.storage.volumes import Volume

UPLOADS_DIR = ".uploads"
FILE_MODE = 0o644
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class VfsVolume:
    def __init__(
        self, name: str, settings: VolumeSettings, owner: tuple[int, int] | None = None
    ) -> None:
        self.name = name
        self.root = settings.path
        self.quota = settings.quota
        self.fsync = settings.fsync
        # Only root can give files away; anyone else's files stay its own.
        self.owner = owner if os.geteuid() == 0 else None
        try:
            self.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigurationError(f"Volume {name!r}: cannot use {self.root}: {e}") from e

    # -- descriptors ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _root(self) -> Iterator[int]:
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _folder(self, vfid: uuid.UUID, parts: list[str] | None = None) -> Iterator[int]:
        """The folder's directory (or ``parts`` under it) as a descriptor."""
        with self._root() as root:
            try:
                fd = open_dir(root, folder_path(vfid).split("/"))
            except NotFound as e:
                raise NotFound(f"No folder {vfid.hex} on volume {self.name!r}.") from e
        try:
            if parts:
                with opened_dir(fd, parts) as sub:
                    yield sub
            else:
                yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _uploads(self) -> Iterator[int]:
        with self._root() as root:
            fd = open_dir(root, [UPLOADS_DIR], create=True)
        try:
            os.fchmod(fd, 0o700)  # nobody but us reads data in flight
            yield fd
        finally:
            os.close(fd)

    @staticmethod
    def _upload_name(upload_id: str) -> str:
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise InvalidRequest("Malformed upload id.")
        return upload_id

    def _chown(self, name: str, dir_fd: int) -> None:
        if self.owner is not None:
            os.chown(name, *self.owner, dir_fd=dir_fd, follow_symlinks=False)

    # -- volume and folders --------------------------------------------------------------

    def info(self) -> VolumeInfo:
        st = os.statvfs(self.root)
        return VolumeInfo(
            name=self.name,
            backend="vfs",
            path=str(self.root),
            capacity_bytes=st.f_blocks * st.f_frsize,
            used_bytes=(st.f_blocks - st.f_bfree) * st.f_frsize,
            quota_bytes=self.quota,
        )

    def create_folder(self, vfid: uuid.UUID) -> None:
        *shards, leaf = folder_path(vfid).split("/")
        with self._root() as root, opened_dir(root, shards, create=True) as parent:
            try:
                os.mkdir(leaf, DIR_MODE, dir_fd=parent)
            except FileExistsError as e:
                raise AlreadyExists(f"The folder {vfid.hex} already exists.") from e
            self._chown(leaf, parent)

    def delete_folder(self, vfid: uuid.UUID) -> None:
        *shards, leaf = folder_path(vfid).split("/")
        with self._root() as root:
            try:
                parent = open_dir(root, shards)
            except NotFound:
                return  # never created, or already gone: deleting is idempotent
            try:
                trees.remove_tree(parent, leaf)
            finally:
                os.close(parent)

    def clone_folder(self, vfid: uuid.UUID, dst: Volume, dst_vfid: uuid.UUID) -> None:
        if not isinstance(dst, VfsVolume):
            raise NotAvailable("Cloning between different volume backends is not supported.")
        dst.create_folder(dst_vfid)
        with self._folder(vfid) as src_fd, dst._folder(dst_vfid) as dst_fd:
            trees.copy_tree(src_fd, dst_fd, dst.owner)

    def folder_usage(self, vfid: uuid.UUID) -> FolderUsage:
        with self._folder(vfid) as fd:
            files, used = trees.usage(fd)
        return FolderUsage(file_count=files, used_bytes=used)

    def volume_used(self) -> int:
        with self._root() as root:
            return trees.usage(root, skip=frozenset({UPLOADS_DIR}))[1]

    def path_usage(self, vfid: uuid.UUID, path: str) -> int:
        *parents, last = split_path(path) or [""]
        with self._folder(vfid, parents) as parent:
            st = lstat_at(parent, last) if last else os.fstat(parent)
            if st is None:
                raise NotFound(f"No such file or directory: {path!r}.")
            if not stat.S_ISDIR(st.st_mode):
                return int(st.st_blocks * 512)
            with opened_dir(parent, [last] if last else []) as fd:
                return trees.usage(fd)[1]

    # -- files ---------------------------------------------------------------------------

    def list_files(self, vfid: uuid.UUID, path: str) -> DirListing:
        items: list[DirEntry] = []
        truncated = False
        with self._folder(vfid, split_path(path)) as fd, os.scandir(fd) as it:
            for entry in it:
                if len(items) >= MAX_LISTING:
                    truncated = True
                    break
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                items.append(
                    DirEntry(
                        name=entry.name,
                        type=entry_type(st.st_mode),
                        size=st.st_size,
                        mode=st.st_mode,
                        created=st.st_ctime,
                        modified=st.st_mtime,
                    )
                )
        items.sort(key=lambda e: e.name)
        return DirListing(items=items, truncated=truncated)

    def mkdir(self, vfid: uuid.UUID, path: str, parents: bool, exist_ok: bool) -> None:
        parts = split_path(path, creating=True)
        if not parts:
            raise InvalidRequest("The folder itself already exists.")
        check_new_name(parts)
        with (
            self._folder(vfid) as folder,
            opened_dir(folder, parts[:-1], create=parents, owner=self.owner) as parent,
        ):
            try:
                os.mkdir(parts[-1], DIR_MODE, dir_fd=parent)
            except FileExistsError as e:
                st = lstat_at(parent, parts[-1])
                if exist_ok and st is not None and stat.S_ISDIR(st.st_mode):
                    return
                raise AlreadyExists(f"{path!r} already exists.") from e
            self._chown(parts[-1], parent)

    def delete_files(self, vfid: uuid.UUID, paths: list[str], recursive: bool) -> None:
        targets = [split_path(p) for p in paths]  # all checked before anything is removed
        if any(not t for t in targets):
            raise InvalidRequest("The folder itself cannot be deleted this way.")
        with self._folder(vfid) as folder:
            for parts in targets:
                with opened_dir(folder, parts[:-1]) as parent:
                    st = lstat_at(parent, parts[-1])
                    if st is None:
                        raise NotFound(f"No such file or directory: {'/'.join(parts)!r}.")
                    if not stat.S_ISDIR(st.st_mode):
                        os.unlink(parts[-1], dir_fd=parent)  # a symlink goes, not its target
                    elif recursive:
                        trees.remove_tree(parent, parts[-1])
                    else:
                        try:
                            os.rmdir(parts[-1], dir_fd=parent)
                        except OSError as e:
                            raise InvalidRequest(
                                f"{'/'.join(parts)!r} is a directory that is not empty; "
                                "delete it recursively."
                            ) from e

    @contextlib.contextmanager
    def _target(self, folder: int, dst: str, name: str) -> Iterator[tuple[int, str]]:
        """Where ``dst`` puts something called ``name``: into ``dst`` when it is an existing
        directory, else at ``dst`` itself (its parent must exist)."""
        parts = split_path(dst, creating=True)
        try:
            fd = open_dir(folder, parts)
            target = name
        except (NotFound, InvalidRequest):
            if not parts:
                raise
            check_new_name(parts[-1:])
            fd = open_dir(folder, parts[:-1])
            target = parts[-1]
        try:
            if lstat_at(fd, target) is not None:
                raise AlreadyExists(f"{target!r} already exists at the destination.")
            yield fd, target
        finally:
            os.close(fd)

    def move(self, vfid: uuid.UUID, src: str, dst: str) -> None:
        sparts = split_path(src)
        split_path(dst, creating=True)  # both checked before anything is looked at
        if not sparts:
            raise InvalidRequest("The folder itself cannot be moved.")
        with self._folder(vfid) as folder, opened_dir(folder, sparts[:-1]) as sdir:
            if lstat_at(sdir, sparts[-1]) is None:
                raise NotFound(f"No such file or directory: {src!r}.")
            with self._target(folder, dst, sparts[-1]) as (ddir, dname):
                try:
                    os.rename(sparts[-1], dname, src_dir_fd=sdir, dst_dir_fd=ddir)
                except OSError as e:
                    if e.errno == errno.EINVAL:
                        raise InvalidRequest("A directory cannot move into itself.") from e
                    raise InvalidRequest(f"Cannot move {src!r}: {e.strerror}.") from e

    def copy(self, vfid: uuid.UUID, src: str, dst: str) -> None:
        sparts = split_path(src)
        split_path(dst, creating=True)  # both checked before anything is looked at
        if not sparts:
            raise InvalidRequest("Copy the folder with clone.")
        with self._folder(vfid) as folder, opened_dir(folder, sparts[:-1]) as sdir:
            st = lstat_at(sdir, sparts[-1])
            if st is None:
                raise NotFound(f"No such file or directory: {src!r}.")
            with self._target(folder, dst, sparts[-1]) as (ddir, dname):
                if stat.S_ISREG(st.st_mode):
                    trees.copy_file_at(sdir, sparts[-1], ddir, dname, self.owner)
                elif stat.S_ISLNK(st.st_mode):
                    os.symlink(os.readlink(sparts[-1], dir_fd=sdir), dname, dir_fd=ddir)
                    self._chown(dname, ddir)
                elif stat.S_ISDIR(st.st_mode):
                    os.mkdir(dname, DIR_MODE, dir_fd=ddir)
                    self._chown(dname, ddir)
                    with opened_dir(sdir, sparts[-1:]) as s, opened_dir(ddir, [dname]) as d:
                        if os.path.samestat(os.fstat(s), os.fstat(d)):
                            raise InvalidRequest("A directory cannot be copied into itself.")
                        trees.copy_tree(s, d, self.owner)
                else:
                    raise InvalidRequest(f"{src!r} is not a regular file or directory.")

    # -- uploads -------------------------------------------------------------------------

    def prepare_upload(self, vfid: uuid.UUID, path: str, upload_id: str, size: int) -> None:
        name = self._upload_name(upload_id)
        parts = split_path(path, creating=True)
        if not parts:
            raise InvalidRequest("An upload needs a file name.")
        check_new_name(parts)
        with self._folder(vfid) as folder:
            # What exists of the path must be directories (no symlink): refuse now, not after
            # the client has sent every byte.
            fd = os.dup(folder)
            try:
                for part in parts[:-1]:
                    st = lstat_at(fd, part)
                    if st is None:
                        break
                    if not stat.S_ISDIR(st.st_mode):
                        raise InvalidRequest(f"{part!r} in the path is not a directory.")
                    nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
                    os.close(fd)
                    fd = nxt
                else:
                    st = lstat_at(fd, parts[-1])
                    if st is not None and stat.S_ISDIR(st.st_mode):
                        raise InvalidRequest(f"{path!r} is a directory.")
            finally:
                os.close(fd)
        with self._uploads() as up:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600,
                             dir_fd=up))  # fmt: skip
        if size == 0:
            # The official client sends no PATCH for an empty file: it exists now.
            self.finish_upload(vfid, path, upload_id)

    def upload_offset(self, upload_id: str) -> int | None:
        with self._uploads() as up:
            st = lstat_at(up, self._upload_name(upload_id))
        return None if st is None or not stat.S_ISREG(st.st_mode) else st.st_size

    def open_upload(self, upload_id: str) -> int:
        with self._uploads() as up:
            try:
                return os.open(self._upload_name(upload_id),
                               os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=up)  # fmt: skip
            except FileNotFoundError as e:
                raise NotFound("The upload is finished, failed or expired.") from e

    def truncate_upload(self, upload_id: str, offset: int) -> None:
        fd = self.open_upload(upload_id)
        try:
            os.ftruncate(fd, offset)
        finally:
            os.close(fd)

    def discard_upload(self, upload_id: str) -> None:
        with self._uploads() as up, contextlib.suppress(FileNotFoundError):
            os.unlink(self._upload_name(upload_id), dir_fd=up)

    def finish_upload(self, vfid: uuid.UUID, path: str, upload_id: str) -> None:
        name = self._upload_name(upload_id)
        parts = split_path(path, creating=True)
        with (
            self._folder(vfid) as folder,
            opened_dir(folder, parts[:-1], create=True, owner=self.owner) as parent,
            self._uploads() as up,
        ):
            os.chmod(name, FILE_MODE, dir_fd=up)
            self._chown(name, up)
            if self.fsync:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=up)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            try:
                # Atomic: a reader of the target sees the old file or the whole new one.
                os.replace(name, parts[-1], src_dir_fd=up, dst_dir_fd=parent)
            except IsADirectoryError as e:
                raise InvalidRequest(f"{path!r} is a directory.") from e
            if self.fsync:
                os.fsync(parent)

    def expire_uploads(self, max_age: float) -> int:
        removed = 0
        cutoff = time.time() - max_age
        with self._uploads() as up, os.scandir(up) as it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                if st.st_mtime < cutoff:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.name, dir_fd=up)
                        removed += 1
        return removed

    # -- downloads -----------------------------------------------------------------------

    def open_download(self, vfid: uuid.UUID, path: str) -> tuple[int, os.stat_result]:
        parts = split_path(path)
        if not parts:
            raise InvalidRequest("The folder itself is a directory; name a file.")
        with self._folder(vfid, parts[:-1]) as parent:
            return open_regular(parent, parts[-1])

    def stat_path(self, vfid: uuid.UUID, path: str) -> os.stat_result | None:
        parts = split_path(path)
        try:
            with self._folder(vfid, parts[:-1]) as parent:
                return lstat_at(parent, parts[-1])
        except (NotFound, InvalidRequest):
            return None
