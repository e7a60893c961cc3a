"""Files of a kernel's /home/work, reached on the host through its bind-mounted directories.

Upload, download and listing need no exec into the container: /home/work is a host directory
(and vfolders under it are other host directories). The agent usually runs as root while the
directory belongs to the container's user, who can plant symlinks or swap directories at any
moment, so every path is walked one component at a time with ``openat`` and ``O_NOFOLLOW``:
a symlink is never followed on the host, whatever it points to.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import IO

from backendai.agent.layout import CONTAINER_HOME
from backendai.common.agent_protocol import FileEntry, ListFilesResult, MountSpec
from backendai.common.errors import InvalidRequest

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
SPOOL_LIMIT = 8 * 2**20  # archives larger than this go to a temporary file


def _refuse(message: str) -> InvalidRequest:
    return InvalidRequest(message)


class KernelFiles:
    def __init__(self, mounts: Sequence[MountSpec], uid: int, gid: int) -> None:
        # Longest container path first: /home/work/data (a vfolder) wins over /home/work.
        self.mounts = sorted(
            (m for m in mounts if PurePosixPath(m.container_path).is_relative_to(CONTAINER_HOME)),
            key=lambda m: len(PurePosixPath(m.container_path).parts),
            reverse=True,
        )
        self.uid, self.gid = uid, gid
        self.chown = os.geteuid() == 0

    def container_path(self, path: str) -> PurePosixPath:
        """``path`` as the container sees it; relative paths are relative to /home/work."""
        if not path or "\0" in path:
            raise _refuse("The path is empty or invalid.")
        given = PurePosixPath(path)
        if ".." in given.parts:
            raise _refuse(f"The path {path!r} may not contain '..'.")
        full = given if given.is_absolute() else CONTAINER_HOME / given
        if not full.is_relative_to(CONTAINER_HOME):
            raise _refuse(f"The path {path!r} is outside {CONTAINER_HOME}.")
        return full

    def _locate(self, full: PurePosixPath) -> tuple[MountSpec, list[str]]:
        for mount in self.mounts:
            if full.is_relative_to(mount.container_path):
                parts = list(full.relative_to(mount.container_path).parts)
                return mount, [p for p in parts if p not in ("", ".")]
        raise _refuse(f"{full} is not in a directory of the session.")

    def _open_dir(self, mount: MountSpec, parts: Sequence[str], create: bool) -> int:
        """A directory fd for ``parts`` under the mount, never through a symlink."""
        fd = os.open(mount.host_path, _DIR_FLAGS)
        try:
            for part in parts:
                if create:
                    try:
                        os.mkdir(part, 0o755, dir_fd=fd)
                        if self.chown:
                            os.chown(part, self.uid, self.gid, dir_fd=fd, follow_symlinks=False)
                    except FileExistsError:
                        pass
                next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = next_fd
        except OSError:
            os.close(fd)
            raise
        return fd

    def open_for_upload(self, path: str) -> int:
        """A new (or truncated) file's fd, parents created, owned by the container's user."""
        full = self.container_path(path)
        mount, parts = self._locate(full)
        if not parts:
            raise _refuse(f"{full} is a directory.")
        if mount.read_only:
            raise _refuse(f"{mount.container_path} is mounted read-only.")
        try:
            dir_fd = self._open_dir(mount, parts[:-1], create=True)
        except OSError as e:
            raise _refuse(f"Cannot create the directory of {full}: {e.strerror}.") from e
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(parts[-1], flags, 0o644, dir_fd=dir_fd)
        except OSError as e:
            reason = "it is a symbolic link" if e.errno == errno.ELOOP else e.strerror
            raise _refuse(f"Cannot write {full}: {reason}.") from e
        finally:
            os.close(dir_fd)
        if self.chown:
            os.fchown(fd, self.uid, self.gid)
        return fd

    def archive(self, path: str) -> IO[bytes]:
        """A tar of the file or directory under its base name, positioned at its start."""
        full = self.container_path(path)
        mount, parts = self._locate(full)
        try:
            if parts:
                dir_fd = self._open_dir(mount, parts[:-1], create=False)
                name = parts[-1]
            elif full != CONTAINER_HOME:  # a vfolder's root: its host path is the admin's
                dir_fd = os.open(os.path.dirname(mount.host_path), _DIR_FLAGS)
                name = os.path.basename(mount.host_path)
            else:
                raise _refuse(f"Download files or folders of {CONTAINER_HOME}, not all of it.")
        except OSError as e:
            raise _refuse("The file is not found.") from e
        # Handed to the caller, who closes it after sending.
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)  # noqa: SIM115
        try:
            with tarfile.open(fileobj=spool, mode="w") as tar:
                if not self._add(tar, dir_fd, name, full.name):
                    raise _refuse("The file is not found.")
        except BaseException:
            spool.close()
            raise
        finally:
            os.close(dir_fd)
        spool.seek(0)
        return spool

    def _add(self, tar: tarfile.TarFile, dir_fd: int, name: str, arcname: str) -> bool:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        info = tarfile.TarInfo(arcname)
        info.mode, info.mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
        info.uid, info.gid = st.st_uid, st.st_gid
        if stat.S_ISLNK(st.st_mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=dir_fd)
            tar.addfile(info)
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            with os.fdopen(fd, "rb") as f:
                info.size = os.fstat(fd).st_size
                tar.addfile(info, f)
        elif stat.S_ISDIR(st.st_mode):
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
            sub_fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            try:
                for child in sorted(os.listdir(sub_fd)):
                    self._add(tar, sub_fd, child, f"{arcname}/{child}")
            finally:
                os.close(sub_fd)
        return True  # sockets, fifos and devices are skipped, as tar archives of homes do

    def list_dir(self, path: str) -> ListFilesResult:
        full = self.container_path(path)
        mount, parts = self._locate(full)
        try:
            dir_fd = self._open_dir(mount, parts, create=False)
        except OSError as e:
            reason = "not a directory" if e.errno in (errno.ENOTDIR, errno.ELOOP) else e.strerror
            return ListFilesResult(files=[], abspath=str(full), errors=f"{full}: {reason}")
        try:
            entries = []
            for name in sorted(os.listdir(dir_fd)):
                try:
                    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                except FileNotFoundError:  # removed while we list
                    continue
                entries.append(
                    FileEntry(
                        filename=name,
                        size=st.st_size,
                        mode=stat.filemode(st.st_mode),
                        mtime=st.st_mtime,
                        ctime=st.st_ctime,
                        atime=st.st_atime,
                    )
                )
        finally:
            os.close(dir_fd)
        return ListFilesResult(files=entries, abspath=str(full))
