"""Walking a directory tree that a container's user made: any depth, never through a symlink.

The same discipline as ``fstree.remove_tree``: no recursion (a 1,100-deep tree exhausted
Python's stack) and one directory descriptor open at a time, down by ``openat(name,
O_NOFOLLOW)``, up by ``openat("..")`` checked against the device and inode it came from. The
user can rename, swap or replace anything while we walk; what moves under us is skipped or
stops the walk, and nothing outside the tree is ever reached.

Entries come in pre-order, each directory's children sorted by name. A directory's names are
held while its subtree is walked (that is what lets the walk keep a single descriptor).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from backendai.common.errors import InvalidRequest

# O_NONBLOCK: opening a FIFO or a device never waits, whatever stands where a directory was.
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_UP_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NONBLOCK | os.O_CLOEXEC
_CHECK_EVERY = 1024  # directory entries read between two looks at the deadline


class TreeChanged(InvalidRequest):
    """A directory was moved away while its tree was walked."""


@dataclass(frozen=True)
class Node:
    """One entry of the tree; ``dir_fd`` is valid only until the walk moves on."""

    arcname: str
    name: str
    dir_fd: int
    st: os.stat_result


@dataclass
class _Level:
    arcname: str
    dev: int
    ino: int
    names: list[str]  # children still to visit, last first


def read_names(fd: int, check: Callable[[], None]) -> list[str]:
    """The entries of the directory ``fd``; ``check`` (a deadline's) is called as they come."""
    names = []
    with os.scandir(fd) as entries:
        for n, entry in enumerate(entries, 1):
            names.append(entry.name)
            if n % _CHECK_EVERY == 0:
                check()
    return names


def _enter(parent_fd: int, name: str, st: os.stat_result) -> int | None:
    """A descriptor of the directory ``name`` seen as ``st``; None if it was replaced."""
    try:
        fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except OSError:  # gone, or no longer a directory (a symlink now: ELOOP)
        return None
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        return None
    return fd


def walk(parent_fd: int, name: str, arcname: str, check: Callable[[], None]) -> Iterator[Node]:
    """``name`` in the directory ``parent_fd`` and, if it is a directory, everything under it.

    A missing ``name`` raises ``FileNotFoundError``; entries removed during the walk are
    skipped. ``check`` is called before each entry (a deadline's: it raises to stop the walk).
    ``parent_fd`` stays the caller's.
    """
    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    yield Node(arcname, name, parent_fd, st)
    if not stat.S_ISDIR(st.st_mode):
        return
    fd = _enter(parent_fd, name, st)
    if fd is None:
        return
    try:
        levels = [_Level(arcname, st.st_dev, st.st_ino, sorted(read_names(fd, check))[::-1])]
        while levels:
            level = levels[-1]
            if level.names:
                child = level.names.pop()
                check()
                try:
                    cst = os.stat(child, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:  # removed while we walk
                    continue
                child_arcname = f"{level.arcname}/{child}"
                yield Node(child_arcname, child, fd, cst)
                if stat.S_ISDIR(cst.st_mode) and (sub := _enter(fd, child, cst)) is not None:
                    try:
                        names = sorted(read_names(sub, check))[::-1]
                    except BaseException:
                        os.close(sub)
                        raise
                    os.close(fd)
                    fd = sub
                    levels.append(_Level(child_arcname, cst.st_dev, cst.st_ino, names))
                continue
            levels.pop()
            if not levels:
                break
            up = os.open("..", _UP_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = up
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (levels[-1].dev, levels[-1].ino):
                raise TreeChanged(
                    f"A directory under {arcname} was moved while it was being read; "
                    "try again once it stays in place."
                )
    finally:
        os.close(fd)
