"""Whole-tree work (usage, remove, copy), iterative and by descriptor.

A session can make a tree thousands of levels deep; recursion would hit Python's limit and
path strings would pass PATH_MAX. So each walk keeps an explicit stack of open directory
descriptors (one per level: the process raises its open-file limit at start) and opens every
child with ``O_NOFOLLOW``: a symlink is counted, removed or copied as a link, never entered.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable

from backendai.common.errors import InvalidRequest
from backendai.storage.paths import DIR_FLAGS, DIR_MODE

COPY_CHUNK = 64 * 1024 * 1024
Visit = Callable[[int], list[str]]  # a directory's fd -> the names of its subdirectories


def _dfs(root_fd: int, visit: Visit, leave: Callable[[int, str], None] | None = None) -> None:
    """Depth-first over the directories under ``root_fd``; ``leave(parent_fd, name)`` runs
    after a directory's whole subtree is done (removal goes bottom-up)."""
    stack: list[tuple[int, str, list[str]]] = []
    fd = os.dup(root_fd)
    try:
        stack.append((fd, "", visit(fd)))
    except BaseException:
        os.close(fd)
        raise
    try:
        while stack:
            fd, name, pending = stack[-1]
            if pending:
                sub = pending.pop()
                try:
                    child = os.open(sub, DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue  # gone, or replaced by a symlink meanwhile: nothing to enter
                try:
                    stack.append((child, sub, visit(child)))
                except BaseException:
                    os.close(child)
                    raise
            else:
                stack.pop()
                os.close(fd)
                if leave is not None and stack:
                    leave(stack[-1][0], name)
    finally:
        for fd, _, _ in stack:
            os.close(fd)


def usage(root_fd: int, skip: frozenset[str] = frozenset()) -> tuple[int, int]:
    """(regular files, allocated bytes as du counts them) under ``root_fd``; names in ``skip``
    at the top level are left out."""
    files = 0
    used = 0
    top = True

    def visit(fd: int) -> list[str]:
        nonlocal files, used, top
        subdirs = []
        with os.scandir(fd) as it:
            for entry in it:
                if top and entry.name in skip:
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                used += st.st_blocks * 512
                if stat.S_ISDIR(st.st_mode):
                    subdirs.append(entry.name)
                elif stat.S_ISREG(st.st_mode):
                    files += 1
        top = False
        return subdirs

    _dfs(root_fd, visit)
    return files, used


def clear_dir(dir_fd: int) -> None:
    """Remove everything under ``dir_fd`` (the directory itself stays)."""

    def visit(fd: int) -> list[str]:
        subdirs = []
        with os.scandir(fd) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.name)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.name, dir_fd=fd)
        return subdirs

    def leave(parent_fd: int, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(name, dir_fd=parent_fd)

    _dfs(dir_fd, visit, leave)


def remove_tree(parent_fd: int, name: str) -> None:
    """Remove the directory ``name`` in ``parent_fd`` and everything under it."""
    try:
        fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        return
    try:
        clear_dir(fd)
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(name, dir_fd=parent_fd)


def copy_file_at(
    src_dir: int, name: str, dst_dir: int, dst_name: str, owner: tuple[int, int] | None = None
) -> int:
    """Copy the regular file ``name``; returns its size. Not a regular file: nothing done."""
    try:
        src = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=src_dir
        )
    except OSError:
        return 0
    try:
        st = os.fstat(src)
        if not stat.S_ISREG(st.st_mode):
            return 0
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        dst = os.open(dst_name, flags, stat.S_IMODE(st.st_mode) | 0o600, dir_fd=dst_dir)
        try:
            if owner is not None:
                os.fchown(dst, *owner)
            _copy_fd(src, dst)
        finally:
            os.close(dst)
        return st.st_size
    finally:
        os.close(src)


def _copy_fd(src: int, dst: int) -> None:
    try:
        while os.copy_file_range(src, dst, COPY_CHUNK):
            pass
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
        os.lseek(src, 0, os.SEEK_SET)
        os.lseek(dst, 0, os.SEEK_SET)
        os.ftruncate(dst, 0)
        while chunk := os.read(src, COPY_CHUNK):
            os.write(dst, chunk)


def copy_tree(src_fd: int, dst_fd: int, owner: tuple[int, int] | None = None) -> None:
    """Copy what is under directory ``src_fd`` into the (existing) directory ``dst_fd``:
    directories, regular files and symlinks (as links); FIFOs, sockets and devices are left
    out (nothing of a session's should become a device on the host)."""
    stack: list[tuple[int, int, list[str]]] = []

    def visit(s: int, d: int) -> list[str]:
        subdirs = []
        with os.scandir(s) as it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    os.mkdir(entry.name, DIR_MODE, dir_fd=d)
                    if owner is not None:
                        os.chown(entry.name, *owner, dir_fd=d, follow_symlinks=False)
                    subdirs.append(entry.name)
                elif stat.S_ISREG(st.st_mode):
                    copy_file_at(s, entry.name, d, entry.name, owner)
                elif stat.S_ISLNK(st.st_mode):
                    os.symlink(os.readlink(entry.name, dir_fd=s), entry.name, dir_fd=d)
                    if owner is not None:
                        os.chown(entry.name, *owner, dir_fd=d, follow_symlinks=False)
        return subdirs

    stack.append((os.dup(src_fd), os.dup(dst_fd), []))
    try:
        stack[-1] = (stack[-1][0], stack[-1][1], visit(stack[-1][0], stack[-1][1]))
        while stack:
            s, d, pending = stack[-1]
            if not pending:
                stack.pop()
                os.close(s)
                os.close(d)
                continue
            sub = pending.pop()
            try:
                cs = os.open(sub, DIR_FLAGS, dir_fd=s)
            except OSError:
                continue
            try:
                cd = os.open(sub, DIR_FLAGS, dir_fd=d)
            except OSError:
                os.close(cs)
                raise
            stack.append((cs, cd, []))
            stack[-1] = (cs, cd, visit(cs, cd))
    except OSError as e:
        raise InvalidRequest(f"The copy failed: {e.strerror}.") from e
    finally:
        for s, d, _ in stack:
            os.close(s)
            os.close(d)
