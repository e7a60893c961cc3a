"""Removing directory trees that a container's user made: any depth, never through a symlink.

``shutil.rmtree`` recurses once per level (a 1,100-deep tree raised RecursionError, which its
``ignore_errors`` does not catch) and keeps a descriptor open per level. ``remove_tree`` walks
with one directory descriptor at a time: down by ``openat(name, O_NOFOLLOW)``, up by
``openat("..")`` checked against the device and inode it came from, so a directory moved
away during the walk stops it instead of leading it outside the tree.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class TreeChanged(OSError):
    """A directory was moved while its tree was being removed."""


def remove_tree(path: Path | str, *, ignore_errors: bool = False) -> None:
    """Remove ``path`` and everything under it; a missing ``path`` is not an error.

    With ``ignore_errors`` a failure is logged and what could not be removed stays.
    """
    try:
        _remove(os.fspath(path))
    except OSError as e:
        if not ignore_errors:
            raise
        log.warning("could not remove %s completely: %s", path, e)


def _remove(path: str) -> None:
    parent, name = os.path.split(os.path.abspath(path))
    parent_fd = os.open(parent or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            _remove_dir(parent_fd, name)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=parent_fd)
    finally:
        os.close(parent_fd)


def _first_subdir(fd: int) -> str | None:
    """Unlink every non-directory entry of ``fd``; the name of a subdirectory, if any."""
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                return entry.name
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.name, dir_fd=fd)
    return None


def _remove_dir(top_fd: int, top: str) -> None:
    fd = os.open(top, _DIR_FLAGS, dir_fd=top_fd)
    st = os.fstat(fd)
    # The directories entered, outermost first: (name in its parent, device, inode).
    trail: list[tuple[str, int, int]] = [(top, st.st_dev, st.st_ino)]
    try:
        while trail:
            sub = _first_subdir(fd)
            if sub is not None:
                child = os.open(sub, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = child
                st = os.fstat(fd)
                trail.append((sub, st.st_dev, st.st_ino))
                continue
            name, _, _ = trail.pop()
            if not trail:
                break
            up = os.open("..", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = up
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != trail[-1][1:]:
                raise TreeChanged(f"a directory of {top} was moved while it was being removed")
            os.rmdir(name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(top, dir_fd=top_fd)
