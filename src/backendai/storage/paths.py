"""Paths inside a folder, and walking them without ever following a symlink.

A folder is writable from inside sessions, so anything in it may be hostile: a symlink to
``/etc``, a FIFO that blocks a reader forever, a tree deeper than any recursion limit. Every
operation therefore resolves a path one component at a time from a directory descriptor with
``O_NOFOLLOW | O_DIRECTORY`` (``openat``), never by a path string the kernel would resolve for
us, and opens files for reading with ``O_NONBLOCK`` and checks ``fstat`` before reading.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from typing import Literal

from backendai.common.errors import InvalidRequest, NotFound
from backendai.common.storage_protocol import MAX_PATH_LENGTH

NAME_MAX = 255  # bytes, as every Linux filesystem we serve limits one name
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
DIR_MODE = 0o755


def split_path(path: str, *, creating: bool = False) -> list[str]:
    """``path`` (relative, "/"-separated) as its components; ``[]`` is the folder itself.

    ``creating``: the last component becomes a new name, so it must also be printable (a
    newline in a name breaks every listing tool; sessions may still make such names, and we
    can list, download and delete them)."""
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidRequest(f"The path is longer than {MAX_PATH_LENGTH} characters.")
    if "\0" in path:
        raise InvalidRequest("A path must not contain a NUL character.")
    if path.startswith("/"):
        raise InvalidRequest("A path inside a folder must be relative, not absolute.")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    for i, part in enumerate(parts):
        if part == "..":
            raise InvalidRequest("A path must not contain '..'.")
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise InvalidRequest(f"A name in the path is longer than {NAME_MAX} bytes.")
        if creating and i == len(parts) - 1 and not part.isprintable():
            raise InvalidRequest("A new name must not contain control characters (newline, tab).")
    return parts


def check_new_name(parts: list[str]) -> None:
    """Every component that an operation may create must be printable."""
    for part in parts:
        if not part.isprintable():
            raise InvalidRequest("A new name must not contain control characters (newline, tab).")


def _walk_error(e: OSError, name: str) -> Exception:
    if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        # O_NOFOLLOW on a symlink answers ELOOP: we refuse rather than follow it.
        return InvalidRequest(f"{name!r} is not a directory (symbolic links are not followed).")
    if e.errno == errno.ENOENT:
        return NotFound(f"No such directory: {name!r}.")
    return InvalidRequest(f"Cannot open {name!r}: {e.strerror}.")


def open_dir(
    base_fd: int, parts: list[str], *, create: bool = False, owner: tuple[int, int] | None = None
) -> int:
    """A new descriptor of the directory ``parts`` under ``base_fd``, every step without
    following a symlink; ``create`` makes missing directories (owned by ``owner`` if >= 0)."""
    fd = os.dup(base_fd)
    try:
        for part in parts:
            try:
                nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):  # a racing creator made it: fine
                    os.mkdir(part, DIR_MODE, dir_fd=fd)
                    if owner is not None:
                        os.chown(part, *owner, dir_fd=fd, follow_symlinks=False)
                nxt = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except OSError as e:
        os.close(fd)
        raise _walk_error(e, "/".join(parts)) from e
    return fd


@contextlib.contextmanager
def opened_dir(
    base_fd: int, parts: list[str], *, create: bool = False, owner: tuple[int, int] | None = None
) -> Iterator[int]:
    fd = open_dir(base_fd, parts, create=create, owner=owner)
    try:
        yield fd
    finally:
        os.close(fd)


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def open_regular(dir_fd: int, name: str) -> tuple[int, os.stat_result]:
    """``name`` opened for reading if (and only if) it is a regular file.

    ``O_NONBLOCK`` keeps a FIFO from blocking the open until a writer comes; ``O_NOFOLLOW``
    refuses a symlink; ``fstat`` on what was opened (not a stat before the open) decides."""
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd
        )
    except FileNotFoundError as e:
        raise NotFound(f"No such file: {name!r}.") from e
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InvalidRequest(f"{name!r} is a symbolic link; it is not followed.") from e
        raise InvalidRequest(f"Cannot open {name!r}: {e.strerror}.") from e
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise InvalidRequest(f"{name!r} is {kind}; only regular files can be downloaded.")
    return fd, st


def entry_type(mode: int) -> Literal["FILE", "DIRECTORY", "SYMLINK", "OTHER"]:
    if stat.S_ISREG(mode):
        return "FILE"
    if stat.S_ISDIR(mode):
        return "DIRECTORY"
    if stat.S_ISLNK(mode):
        return "SYMLINK"
    return "OTHER"
