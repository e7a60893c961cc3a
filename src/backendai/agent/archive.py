"""Tar archives of a kernel's files, made piece by piece as they are sent.

Nothing is spooled: ``TarStream.read`` gives the next piece (about ``CHUNK`` bytes), reading the
files only then, so a download holds one chunk in memory whatever its size (a sparse 1 GiB file
is read as 1 GiB of zeros, a chunk at a time). ``archive_size`` walks the same tree first
without reading any data, so that a download can be refused before anything is sent.

Trees are walked by ``treewalk.walk`` (any depth, never through a symlink); symlinks are
archived as links; FIFOs, sockets and devices are skipped, as tar archives of homes usually
do. A file is opened with ``O_NONBLOCK | O_NOFOLLOW`` and archived only if ``fstat`` of what
was opened says it is a regular file: a FIFO swapped in after the listing never blocks a
thread. A file that shrinks while it is read stops the archive with an error: its header
already promised the bytes, and a short file must never pass for the whole one.
"""

from __future__ import annotations

import os
import stat
import tarfile
import time
from collections.abc import Generator

from backendai.agent.file_work import Deadline
from backendai.agent.treewalk import Node, walk
from backendai.common.errors import InvalidRequest

CHUNK = 1024 * 1024
_SLICE = 0.25  # seconds of small-file work gathered into one piece at most
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class FileShrank(InvalidRequest):
    """A file got shorter while it was being archived."""


def _info(arcname: str, st: os.stat_result, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.type, info.linkname = kind, linkname
    info.mode, info.mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.size = st.st_size if kind == tarfile.REGTYPE else 0
    return info


def _header(info: tarfile.TarInfo) -> bytes:
    # PAX, tarfile's default: names of any length (a 1,100-deep path is 2,200 characters).
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padding(size: int) -> int:
    return -size % _BLOCK


def _end(offset: int) -> bytes:
    """Two zero blocks, then zeros to a whole record, as tarfile and GNU tar end archives."""
    size = 2 * _BLOCK
    return bytes(size + -(offset + size) % _RECORD)


def _link_header(node: Node) -> bytes | None:
    try:
        target = os.readlink(node.name, dir_fd=node.dir_fd)
    except OSError:  # replaced since it was listed
        return None
    return _header(_info(node.arcname, node.st, tarfile.SYMTYPE, target))


def archive_size(
    parent_fd: int, name: str, arcname: str, deadline: Deadline, stop_above: int
) -> int:
    """The size of the archive of ``name`` as things stand (files at their apparent size);
    counting stops once it passes ``stop_above``."""
    total = 0
    for node in walk(parent_fd, name, arcname, deadline.check):
        mode = node.st.st_mode
        if stat.S_ISREG(mode):
            size = node.st.st_size
            total += len(_header(_info(node.arcname, node.st, tarfile.REGTYPE)))
            total += size + _padding(size)
        elif stat.S_ISDIR(mode):
            total += len(_header(_info(node.arcname, node.st, tarfile.DIRTYPE)))
        elif stat.S_ISLNK(mode):
            total += len(_link_header(node) or b"")
        if total > stop_above:
            return total
    return total + len(_end(total))


class TarStream:
    """The archive of ``name`` (in the directory ``parent_fd``) under ``arcname``.

    ``read`` is called from one thread at a time (each call is one pool operation); the walk
    between calls keeps at most one directory and one file open.
    """

    def __init__(self, parent_fd: int, name: str, arcname: str) -> None:
        self._deadline: Deadline | None = None
        self._pieces = self._generate(parent_fd, name, arcname)
        self.offset = 0

    def _check(self) -> None:
        if self._deadline is not None:
            self._deadline.check()

    def read(self, deadline: Deadline) -> bytes:
        """The next piece of the archive; ``b""`` once it is complete."""
        self._deadline = deadline
        started = time.monotonic()
        parts: list[bytes] = []
        size = 0
        for piece in self._pieces:
            parts.append(piece)
            size += len(piece)
            if size >= CHUNK or time.monotonic() - started > _SLICE:
                break
        data = b"".join(parts)
        self.offset += len(data)
        return data

    def close(self) -> None:
        """Close what the walk holds open (never while a ``read`` runs)."""
        self._pieces.close()

    def _generate(self, parent_fd: int, name: str, arcname: str) -> Generator[bytes]:
        offset = 0
        for node in walk(parent_fd, name, arcname, self._check):
            mode = node.st.st_mode
            if stat.S_ISREG(mode):
                for piece in self._file(node):
                    offset += len(piece)
                    yield piece
                continue
            if stat.S_ISDIR(mode):
                header: bytes | None = _header(_info(node.arcname, node.st, tarfile.DIRTYPE))
            elif stat.S_ISLNK(mode):
                header = _link_header(node)
            else:
                header = None  # a FIFO, socket or device: no data to archive
            if header is not None:
                offset += len(header)
                yield header
        yield _end(offset)

    def _file(self, node: Node) -> Generator[bytes]:
        try:
            fd = os.open(node.name, _FILE_FLAGS, dir_fd=node.dir_fd)
        except OSError:  # removed, or a symlink now, since it was listed
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):  # swapped for a FIFO or device since listed
                return
            yield _header(_info(node.arcname, st, tarfile.REGTYPE))
            left = st.st_size
            while left:
                self._check()
                data = os.read(fd, min(CHUNK, left))
                if not data:
                    raise FileShrank(
                        f"{node.arcname} got shorter while it was being downloaded; the "
                        "download was stopped so that a partial file never passes for whole."
                    )
                left -= len(data)
                yield data
            yield bytes(_padding(st.st_size))
        finally:
            os.close(fd)
