"""Files of a kernel's /home/work, reached on the host through its bind-mounted directories.

Upload, download and listing need no exec into the container: /home/work is a host directory
(and vfolders under it are other host directories). The agent usually runs as root while the
directory belongs to the container's user, who can plant symlinks or swap directories at any
moment, so every path is walked one component at a time with ``openat`` and ``O_NOFOLLOW``:
a symlink is never followed on the host, whatever it points to. Everything is opened with
``O_NONBLOCK`` and checked with ``fstat`` before use: a FIFO where a file or directory was
expected is refused at once instead of holding a thread until someone writes to it.

These calls block; the agent runs them in its file work pool (``file_work``), each with a
``Deadline`` that long loops look at.
"""

from __future__ import annotations

import errno
import heapq
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from backendai.agent.archive import archive_size
from backendai.agent.errors import DownloadTooLarge
from backendai.agent.file_work import Deadline
from backendai.agent.layout import CONTAINER_HOME
from backendai.agent.treewalk import DIR_FLAGS
from backendai.common.agent_protocol import FileEntry, ListFilesResult, MountSpec
from backendai.common.errors import InvalidRequest

_UPLOAD_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHECK_EVERY = 1024  # directory entries read between two looks at the deadline
NOT_FOUND = "The file is not found."  # Backend.AI's words, which its client shows


def _refuse(message: str) -> InvalidRequest:
    return InvalidRequest(message)


def kind_of(mode: int) -> str:
    """What a file is, in words: "a FIFO (named pipe)", "a directory", ..."""
    for test, words in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def human_size(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


@dataclass
class ArchiveSource:
    """One requested file or directory: ``name`` in the open directory ``parent_fd``."""

    parent_fd: int
    name: str
    arcname: str


@dataclass
class DownloadPlan:
    """What a download will send, checked and sized before anything is sent; the caller
    closes it."""

    sources: list[ArchiveSource] = field(default_factory=list)
    size: int = 0

    def close(self) -> None:
        for source in self.sources:
            os.close(source.parent_fd)
        self.sources.clear()


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
        fd = os.open(mount.host_path, DIR_FLAGS)
        try:
            for part in parts:
                if create:
                    try:
                        os.mkdir(part, 0o755, dir_fd=fd)
                        if self.chown:
                            os.chown(part, self.uid, self.gid, dir_fd=fd, follow_symlinks=False)
                    except FileExistsError:
                        pass
                next_fd = os.open(part, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = next_fd
        except OSError:
            os.close(fd)
            raise
        return fd

    def open_for_upload(self, path: str) -> int:
        """A regular file's fd, emptied or new, parents created, owned by the container's user."""
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
            # No O_TRUNC: what is there is looked at first, and only a regular file is emptied.
            fd = os.open(parts[-1], _UPLOAD_FLAGS, 0o644, dir_fd=dir_fd)
        except OSError as e:
            reason = {
                errno.ELOOP: "it is a symbolic link",
                errno.ENXIO: "it is a FIFO (named pipe) or a socket, not a regular file",
                errno.EISDIR: "it is a directory",
            }.get(e.errno or 0, e.strerror)
            message = f"Cannot write {full}: {reason}. Remove it or upload another name."
            raise _refuse(message) from e
        finally:
            os.close(dir_fd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise _refuse(
                    f"Cannot write {full}: it is {kind_of(st.st_mode)}, not a regular file. "
                    "Remove it or upload another name."
                )
            os.ftruncate(fd, 0)
            os.set_blocking(fd, True)
            if self.chown:
                os.fchown(fd, self.uid, self.gid)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _source(self, path: str) -> ArchiveSource:
        """Where the file or directory ``path`` is: its parent opened, its name in it."""
        full = self.container_path(path)
        mount, parts = self._locate(full)
        try:
            if parts:
                return ArchiveSource(
                    self._open_dir(mount, parts[:-1], create=False), parts[-1], full.name
                )
            if full != CONTAINER_HOME:  # a vfolder's root: its host path is the admin's
                parent_fd = os.open(os.path.dirname(mount.host_path), DIR_FLAGS)
                return ArchiveSource(parent_fd, os.path.basename(mount.host_path), full.name)
        except OSError as e:
            raise _refuse(NOT_FOUND) from e
        raise _refuse(f"Download files or folders of {CONTAINER_HOME}, not all of it.")

    def plan_download(
        self,
        paths: Sequence[str],
        deadline: Deadline,
        limit: int,
        plan: DownloadPlan | None = None,
    ) -> DownloadPlan:
        """Every path checked and the archives sized, refused past ``limit`` bytes. ``plan``:
        the caller's to fill, so that what is opened is the caller's to close even when the
        caller stopped waiting before this returned."""
        plan = DownloadPlan() if plan is None else plan
        try:
            for path in paths:
                source = self._source(path)
                plan.sources.append(source)
                try:
                    st = os.stat(source.name, dir_fd=source.parent_fd, follow_symlinks=False)
                    if _special(st.st_mode):
                        raise _refuse(
                            f"{self.container_path(path)} is {kind_of(st.st_mode)}: only regular "
                            "files, directories and symbolic links can be downloaded. Copy the "
                            "data you need into a regular file first."
                        )
                    plan.size += archive_size(
                        source.parent_fd, source.name, source.arcname, deadline, limit - plan.size
                    )
                except FileNotFoundError as e:  # also when removed while it was sized
                    raise _refuse(NOT_FOUND) from e
                if plan.size > limit:
                    raise DownloadTooLarge(
                        f"The files asked for come to at least {human_size(plan.size)} "
                        f"({plan.size:,} bytes as tar archives; sparse files count at their "
                        f"full size), more than this agent's download limit of "
                        f"{human_size(limit)} ({limit:,} bytes). Download fewer or smaller "
                        "files, compress them in the session first, or copy them to a vfolder."
                    )
        except BaseException:
            plan.close()
            raise
        return plan

    def list_dir(self, path: str, deadline: Deadline, max_entries: int) -> ListFilesResult:
        """The directory's entries, the first ``max_entries`` by name (held no more than that,
        whatever the directory's size), with a note when there are more."""
        full = self.container_path(path)
        mount, parts = self._locate(full)
        try:
            dir_fd = self._open_dir(mount, parts, create=False)
        except OSError as e:
            reason = "not a directory" if e.errno in (errno.ENOTDIR, errno.ELOOP) else e.strerror
            return ListFilesResult(files=[], abspath=str(full), errors=f"{full}: {reason}")
        try:
            counted = _Counted(dir_fd, deadline.check)
            names = heapq.nsmallest(max_entries, counted)
            entries = []
            for name in names:
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
        note = ""
        if counted.count > max_entries:
            note = (
                f"{full} has {counted.count:,} entries; only the first {max_entries:,} by name "
                "are listed. List a subdirectory, or look inside the session (ls in a terminal)."
            )
        return ListFilesResult(files=entries, abspath=str(full), note=note)


def _special(mode: int) -> bool:
    """A FIFO, socket or device: nothing a download can take."""
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode))


class _Counted:
    """The names in a directory, one at a time, counted, looking at the deadline as they come."""

    def __init__(self, dir_fd: int, check: Callable[[], None]) -> None:
        self.dir_fd, self.check, self.count = dir_fd, check, 0

    def __iter__(self) -> Iterator[str]:
        with os.scandir(self.dir_fd) as entries:
            for entry in entries:
                self.count += 1
                if self.count % _CHECK_EVERY == 0:
                    self.check()
                yield entry.name
