"""remove_tree: any depth, never through a symlink, one descriptor at a time."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest

from backendai.agent.fstree import TreeChanged, remove_tree


def _deep(root: Path, depth: int) -> Path:
    """A chain of ``depth`` directories under ``root`` (built with relative mkdirs, since the
    full path grows past PATH_MAX); returns the top one."""
    top = root / "d"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(depth):
            os.mkdir("d", dir_fd=fd)
            with open(os.open(f"f{i}", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w") as f:
                f.write("x")
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    return top


def test_a_tree_deeper_than_the_recursion_limit_and_path_max(tmp_path: Path) -> None:
    top = _deep(tmp_path, 5000)
    remove_tree(top)
    assert not top.exists()


def test_the_walk_holds_few_descriptors(tmp_path: Path) -> None:
    top = _deep(tmp_path, 400)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(200, hard), hard))
    try:
        remove_tree(top)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert not top.exists()


def test_symlinks_are_removed_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("mine")
    home = tmp_path / "home"
    (home / "sub").mkdir(parents=True)
    (home / "sub" / "link").symlink_to(outside)
    (home / "dirlink").symlink_to(outside, target_is_directory=True)
    os.mkfifo(home / "fifo")
    remove_tree(home)
    assert not home.exists()
    assert (outside / "keep").read_text() == "mine"


def test_missing_paths_and_plain_files(tmp_path: Path) -> None:
    remove_tree(tmp_path / "nothing")
    (tmp_path / "file").write_text("x")
    remove_tree(tmp_path / "file")
    assert not (tmp_path / "file").exists()


def test_a_symlink_given_as_the_root_is_removed_itself(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep").write_text("x")
    (tmp_path / "root").symlink_to(target)
    remove_tree(tmp_path / "root")
    assert (target / "keep").exists() and not (tmp_path / "root").is_symlink()


def test_a_directory_moved_during_the_walk_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = _deep(tmp_path, 3)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    real_open = os.open

    def moving_open(path: str, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if path == ".." and (top / "d" / "d").exists():  # the user moves a directory away
            os.rename(top / "d" / "d", elsewhere / "d")
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", moving_open)
    with pytest.raises(TreeChanged):
        remove_tree(top)
    assert elsewhere.is_dir()  # the walk did not follow ".." out of the tree
    monkeypatch.undo()
    remove_tree(top)
    assert not top.exists() and elsewhere.is_dir()
