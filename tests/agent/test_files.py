"""Files of /home/work through the host directories: paths, symlinks, mounts, archives."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import IO

import pytest

from backendai.agent.files import KernelFiles
from backendai.common.agent_protocol import MountSpec
from backendai.common.errors import InvalidRequest


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
    assert members(files.archive("id_container")) == {"id_container": b"key"}
    tree = members(files.archive("/home/work/dir"))
    assert tree == {"dir": None, "dir/a.txt": b"A", "dir/sub": None, "dir/sub/b.txt": b"B"}


def test_archive_keeps_symlinks_as_links(files: KernelFiles, home: Path) -> None:
    (home / "d").mkdir()
    (home / "d/passwd").symlink_to("/etc/passwd")
    with tarfile.open(fileobj=files.archive("d")) as tar:
        link = tar.getmember("d/passwd")
    assert link.issym() and link.linkname == "/etc/passwd"
    with pytest.raises(InvalidRequest):
        files.archive("d/passwd/x")


def test_archive_of_a_missing_file(files: KernelFiles) -> None:
    with pytest.raises(InvalidRequest, match="The file is not found"):
        files.archive("nope.txt")
    with pytest.raises(InvalidRequest, match="The file is not found"):
        files.archive("no/dir/x")


def test_archive_of_a_vfolder_root(files: KernelFiles) -> None:
    write(files, "data/x", b"X")
    assert members(files.archive("data")) == {"data": None, "data/x": b"X"}


def test_list_dir(files: KernelFiles, home: Path) -> None:
    write(files, "reuse.txt", b"0123456789")
    (home / "sub").mkdir()
    result = files.list_dir(".")
    assert result.abspath == "/home/work" and result.errors == ""
    by_name = {f.filename: f for f in result.files}
    assert by_name["reuse.txt"].size == 10
    assert by_name["reuse.txt"].mode.startswith("-rw")
    assert by_name["sub"].mode.startswith("d")
    assert by_name["reuse.txt"].mtime > 0


def test_list_dir_reports_errors_in_the_result(files: KernelFiles, home: Path) -> None:
    assert "No such file" in files.list_dir("missing").errors
    (home / "evil").symlink_to("/etc")
    assert files.list_dir("evil").errors.endswith("not a directory")
