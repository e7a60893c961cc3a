"""Files of /home/work through the host directories: paths, symlinks, mounts, archives."""

from __future__ import annotations

import io
import os
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from backendai.agent.archive import FileShrank, TarStream
from backendai.agent.errors import DownloadTooLarge, FileOperationTimeout
from backendai.agent.file_work import Deadline
from backendai.agent.files import KernelFiles
from backendai.agent.fstree import remove_tree
from backendai.agent.treewalk import Node
from backendai.common.agent_protocol import MountSpec
from backendai.common.errors import InvalidRequest

NO_LIMIT = 2**50


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


@pytest.fixture
def files(home: Path, tmp_path: Path) -> KernelFiles:
    (tmp_path / "vf").mkdir()
    (tmp_path / "ro").mkdir()
    return KernelFiles(
        [
            MountSpec(host_path=str(home), container_path="/home/work"),
            MountSpec(host_path=str(tmp_path / "vf"), container_path="/home/work/data"),
            MountSpec(
                host_path=str(tmp_path / "ro"), container_path="/home/work/ro", read_only=True
            ),
            MountSpec(host_path=str(tmp_path), container_path="/opt/backend.ai/ipc"),
        ],
        uid=os.getuid(),
        gid=os.getgid(),
    )


def write(files: KernelFiles, path: str, data: bytes) -> None:
    fd = files.open_for_upload(path)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def soon() -> Deadline:
    return Deadline(30, "test")


def archive(files: KernelFiles, path: str) -> IO[bytes]:
    """The whole tar of ``path`` as the agent streams it; checks that it was sized exactly."""
    plan = files.plan_download([path], soon(), NO_LIMIT)
    try:
        [source] = plan.sources
        stream = TarStream(source.parent_fd, source.name, source.arcname)
        out = io.BytesIO()
        while chunk := stream.read(soon()):
            out.write(chunk)
        stream.close()
    finally:
        plan.close()
    assert out.tell() == plan.size  # what a download promises is what it sends
    out.seek(0)
    return out


def members(archive: IO[bytes]) -> dict[str, bytes | None]:
    with tarfile.open(fileobj=archive) as tar:
        out: dict[str, bytes | None] = {}
        for m in tar.getmembers():
            f = tar.extractfile(m) if m.isfile() else None
            out[m.name] = f.read() if f else None
        return out


@pytest.mark.parametrize(
    "path", ["../x", "a/../../x", "/etc/passwd", "/home/workx/a", "/home/work/../x", "", "a\0b"]
)
def test_paths_that_escape_are_refused(files: KernelFiles, path: str) -> None:
    with pytest.raises(InvalidRequest):
        files.container_path(path)
    with pytest.raises(InvalidRequest):
        files.open_for_upload(path)


def test_upload_creates_parents(files: KernelFiles, home: Path) -> None:
    write(files, "a/b/c.txt", b"deep")
    write(files, "/home/work/top.txt", b"top")
    assert (home / "a/b/c.txt").read_bytes() == b"deep"
    assert (home / "top.txt").read_bytes() == b"top"


def test_upload_never_follows_a_symlink(files: KernelFiles, home: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (home / "link").symlink_to(outside)
    (home / "file-link").symlink_to(outside / "target")
    with pytest.raises(InvalidRequest):
        write(files, "link/x.txt", b"escape")
    with pytest.raises(InvalidRequest):
        write(files, "file-link", b"escape")
    assert list(outside.iterdir()) == []


def test_vfolder_paths_go_to_the_vfolder(files: KernelFiles, tmp_path: Path) -> None:
    write(files, "data/result.csv", b"1,2")
    assert (tmp_path / "vf/result.csv").read_bytes() == b"1,2"
    with pytest.raises(InvalidRequest, match="read-only"):
        write(files, "ro/x", b"")


def test_archive_of_a_file_and_of_a_directory(files: KernelFiles) -> None:
    write(files, "id_container", b"key")
    write(files, "dir/a.txt", b"A")
    write(files, "dir/sub/b.txt", b"B")
    assert members(archive(files, "id_container")) == {"id_container": b"key"}
    tree = members(archive(files, "/home/work/dir"))
    assert tree == {"dir": None, "dir/a.txt": b"A", "dir/sub": None, "dir/sub/b.txt": b"B"}


def test_archive_keeps_symlinks_as_links(files: KernelFiles, home: Path) -> None:
    (home / "d").mkdir()
    (home / "d/passwd").symlink_to("/etc/passwd")
    with tarfile.open(fileobj=archive(files, "d")) as tar:
        link = tar.getmember("d/passwd")
    assert link.issym() and link.linkname == "/etc/passwd"
    with pytest.raises(InvalidRequest):
        archive(files, "d/passwd/x")


def test_archive_of_a_missing_file(files: KernelFiles) -> None:
    with pytest.raises(InvalidRequest, match="The file is not found"):
        archive(files, "nope.txt")
    with pytest.raises(InvalidRequest, match="The file is not found"):
        archive(files, "no/dir/x")


def test_archive_of_a_vfolder_root(files: KernelFiles) -> None:
    write(files, "data/x", b"X")
    assert members(archive(files, "data")) == {"data": None, "data/x": b"X"}


def test_list_dir(files: KernelFiles, home: Path) -> None:
    write(files, "reuse.txt", b"0123456789")
    (home / "sub").mkdir()
    result = files.list_dir(".", soon(), 100)
    assert result.abspath == "/home/work" and result.errors == ""
    by_name = {f.filename: f for f in result.files}
    assert by_name["reuse.txt"].size == 10
    assert by_name["reuse.txt"].mode.startswith("-rw")
    assert by_name["sub"].mode.startswith("d")
    assert by_name["reuse.txt"].mtime > 0


def test_list_dir_reports_errors_in_the_result(files: KernelFiles, home: Path) -> None:
    assert "No such file" in files.list_dir("missing", soon(), 100).errors
    (home / "evil").symlink_to("/etc")
    assert files.list_dir("evil", soon(), 100).errors.endswith("not a directory")


# --- non-regular files: refused at once, never waited on ---


def test_upload_onto_a_fifo_is_refused_at_once(files: KernelFiles, home: Path) -> None:
    os.mkfifo(home / "fifo")
    started = time.monotonic()
    with pytest.raises(InvalidRequest, match="FIFO"):
        files.open_for_upload("fifo")  # no reader: a blocking open would wait for one
    reader = os.open(home / "fifo", os.O_RDONLY | os.O_NONBLOCK)
    try:  # with a reader the open succeeds; fstat then tells what it is
        with pytest.raises(InvalidRequest, match=r"it is a FIFO \(named pipe\), not a regular"):
            files.open_for_upload("fifo")
    finally:
        os.close(reader)
    assert time.monotonic() - started < 1
    (home / "dir").mkdir()
    with pytest.raises(InvalidRequest, match="it is a directory"):
        files.open_for_upload("dir")


def test_upload_empties_only_a_regular_file(files: KernelFiles, home: Path) -> None:
    (home / "old.txt").write_bytes(b"a longer old content")
    write(files, "old.txt", b"new")
    assert (home / "old.txt").read_bytes() == b"new"


def test_download_of_a_fifo_or_socket_is_refused(files: KernelFiles, home: Path) -> None:
    os.mkfifo(home / "fifo")
    with pytest.raises(InvalidRequest, match=r"fifo is a FIFO \(named pipe\): only regular"):
        files.plan_download(["fifo"], soon(), NO_LIMIT)
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(home / "sock"))
        with pytest.raises(InvalidRequest, match="is a socket"):
            files.plan_download(["sock"], soon(), NO_LIMIT)


def test_archives_skip_fifos_inside_directories(files: KernelFiles, home: Path) -> None:
    write(files, "d/a.txt", b"A")
    os.mkfifo(home / "d/fifo")
    assert members(archive(files, "d")) == {"d": None, "d/a.txt": b"A"}


def test_a_file_swapped_for_a_fifo_after_listing_is_skipped(files: KernelFiles, home: Path) -> None:
    write(files, "f", b"data")
    st = os.stat(home / "f")
    os.unlink(home / "f")
    os.mkfifo(home / "f")  # stands where the listed regular file was
    fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY)
    try:
        stream = TarStream(fd, "unused", "unused")
        started = time.monotonic()
        assert list(stream._file(Node("f", "f", fd, st))) == []
        assert time.monotonic() - started < 1
    finally:
        os.close(fd)


# --- any depth, symlinks never followed ---


def deep_tree(home: Path, depth: int) -> None:
    fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = sub
        leaf = os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"bottom")
        os.close(leaf)
    finally:
        os.close(fd)


@pytest.fixture
def deep(home: Path) -> Iterator[Callable[[int], None]]:
    """Makes home/d/d/.../leaf.txt; removes it after (pytest's own clean-up recurses once per
    level and fails on a 1,100-deep tree, in every later run too)."""
    yield lambda depth: deep_tree(home, depth)
    remove_tree(home / "d")


def test_a_1100_deep_tree_is_archived_and_listed(
    files: KernelFiles, deep: Callable[[int], None]
) -> None:
    deep(1100)
    with tarfile.open(fileobj=archive(files, "d")) as tar:
        names = tar.getnames()
        deepest = "/".join(["d"] * 1100) + "/leaf.txt"
        assert len(names) == 1101 and names[-1] == deepest
        leaf = tar.extractfile(deepest)
        assert leaf is not None and leaf.read() == b"bottom"
    listing = files.list_dir("/".join(["d"] * 1100), soon(), 100)
    assert [f.filename for f in listing.files] == ["leaf.txt"]


def test_symlinked_directories_are_archived_as_links(
    files: KernelFiles, home: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret/key").write_text("host secret")
    write(files, "d/x", b"X")
    (home / "d/out").symlink_to(tmp_path / "secret")
    got = members(archive(files, "d"))
    assert got == {"d": None, "d/x": b"X", "d/out": None}  # a link, nothing of the host


# --- sizes, limits, changes while reading ---


def test_sparse_files_count_at_their_full_size(files: KernelFiles, home: Path) -> None:
    with open(home / "sparse", "wb") as f:
        f.truncate(2**30)
    assert os.stat(home / "sparse").st_blocks == 0
    with pytest.raises(DownloadTooLarge) as refused:
        files.plan_download(["sparse"], soon(), 512 * 2**20)
    assert "at least 1.0 GiB" in str(refused.value)
    assert "download limit of 512.0 MiB (536,870,912 bytes)" in str(refused.value)
    plan = files.plan_download(["sparse"], soon(), 2 * 2**30)
    plan.close()
    expected = 512 + 2**30 + 1024  # header, data, end blocks; then whole 10 KiB records
    assert plan.size == expected + -expected % 10240


def test_the_limit_counts_every_file_asked_for(files: KernelFiles) -> None:
    write(files, "a", b"x" * 6000)
    write(files, "b", b"x" * 6000)
    files.plan_download(["a"], soon(), 12000).close()
    with pytest.raises(DownloadTooLarge):
        files.plan_download(["a", "b"], soon(), 12000)


def test_a_file_that_shrinks_while_read_stops_the_archive(files: KernelFiles, home: Path) -> None:
    write(files, "big", b"x" * (3 * 2**20))
    plan = files.plan_download(["big"], soon(), NO_LIMIT)
    [source] = plan.sources
    stream = TarStream(source.parent_fd, source.name, source.arcname)
    try:
        assert stream.read(soon())
        os.truncate(home / "big", 10)
        with pytest.raises(FileShrank, match="never passes for whole"):
            while stream.read(soon()):
                pass
    finally:
        stream.close()
        plan.close()


def test_a_walk_stops_at_its_deadline(files: KernelFiles, deep: Callable[[int], None]) -> None:
    deep(50)
    expired = Deadline(0.001, "Sizing the test download")
    time.sleep(0.01)
    with pytest.raises(FileOperationTimeout, match="Sizing the test download took longer"):
        files.plan_download(["d"], expired, NO_LIMIT)


# --- listings stay bounded ---


def test_a_listing_returns_at_most_its_cap_with_a_note(files: KernelFiles, home: Path) -> None:
    for n in range(50):
        (home / f"f{n:02d}").touch()
    result = files.list_dir(".", soon(), 10)
    assert [f.filename for f in result.files] == [f"f{n:02d}" for n in range(10)]
    assert result.errors == ""
    assert result.note.startswith("/home/work has 50 entries; only the first 10 by name")
    assert files.list_dir(".", soon(), 50).note == ""


def test_a_listing_of_a_huge_directory_stops_at_its_deadline(
    files: KernelFiles, home: Path
) -> None:
    for n in range(3000):
        (home / f"f{n}").touch()
    expired = Deadline(0.001, "Listing .")
    time.sleep(0.01)
    with pytest.raises(FileOperationTimeout, match=r"Listing \. took longer than"):
        files.list_dir(".", expired, 10)
