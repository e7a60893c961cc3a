"""Writing a session's dotfiles into its home, on the host, before its user gets the container.

The home is a host directory (``layout.KernelPaths.home``) that belongs to the container's user,
and a warm pool container has had its home for a while: whatever stands there (a symlink to
``/etc``, a FIFO, a directory where a file should go) must not lead a write outside it. So
every path is checked again here (``common.dotfiles``), walked one component at a time with
``openat`` and ``O_NOFOLLOW``, and the file is written through a descriptor checked to be a
regular file with one link. A dotfile that cannot be written safely is skipped and logged; it
never stops the session.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from backendai.agent.treewalk import DIR_FLAGS
from backendai.common import dotfiles as rules
from backendai.common.agent_protocol import DotfileSpec
from backendai.common.errors import InvalidRequest

log = logging.getLogger(__name__)

_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafeDotfile(InvalidRequest):
    """Something in the home stands where the dotfile would go."""


def write_dotfiles(home: Path, dotfiles: Sequence[DotfileSpec], uid: int, gid: int) -> list[str]:
    """Write ``dotfiles`` under ``home``; the paths written (relative to the home)."""
    written: list[str] = []
    total = 0
    for spec in dotfiles[: rules.MAX_MERGED_COUNT]:
        total += len(spec.data.encode())
        if total > rules.MAX_MERGED_DATA:
            log.warning("dotfiles past %d bytes are left out", rules.MAX_MERGED_DATA)
            break
        try:
            path = rules.normalize_path(spec.path)
            mode = int(rules.normalize_permission(spec.permission), 8)
            _write_one(home, path, spec.data.encode(), mode, uid, gid)
        except (InvalidRequest, OSError) as e:
            log.warning("dotfile %r is not written into %s: %s", spec.path, home, e)
            continue
        written.append(path)
    return written


def _write_one(home: Path, path: str, data: bytes, mode: int, uid: int, gid: int) -> None:
    *parents, name = path.split("/")
    dir_fd = _open_parents(home, parents, uid, gid)
    try:
        fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=dir_fd)
    except OSError as e:
        os.close(dir_fd)
        if e.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise UnsafeDotfile(f"{path} exists and is not a regular file") from e
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            raise UnsafeDotfile(f"{path} exists and is not a plain file of its own")
        os.ftruncate(fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        _give(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
        os.close(dir_fd)


def _open_parents(home: Path, parents: Sequence[str], uid: int, gid: int) -> int:
    """A descriptor of the dotfile's directory under ``home``, created as needed, never
    reached through a symlink."""
    fd = os.open(home, DIR_FLAGS)
    try:
        for part in parents:
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
                _give_entry(fd, part, uid, gid)
            except FileExistsError:
                pass
            try:
                next_fd = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafeDotfile(f"{part} in the home is not a directory") from e
                raise
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _give(fd: int, uid: int, gid: int) -> None:
    # An agent that is not root (development) cannot give files away: they stay its own.
    with contextlib.suppress(PermissionError):
        os.fchown(fd, uid, gid)


def _give_entry(dir_fd: int, name: str, uid: int, gid: int) -> None:
    with contextlib.suppress(PermissionError):
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
