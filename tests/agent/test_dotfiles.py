"""Dotfiles written into a session's home: for a new container and for a claimed warm pool
container, never outside the home whatever already stands in it."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backendai.agent.backends.fake import FakeBackend
from backendai.agent.dotfiles import write_dotfiles
from backendai.agent.layout import CLAIM_FILE
from backendai.common import dotfiles as rules
from backendai.common.agent_protocol import DotfileSpec
from tests.agent.conftest import Agent
from tests.agent.test_pool import PoolAgent, start

UID, GID = os.getuid(), os.getgid()


def spec(path: str, data: str = "x", permission: str = "644") -> DotfileSpec:
    return DotfileSpec(path=path, data=data, permission=permission)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret").write_text("untouched")
    return path


def test_files_and_directories_are_written_with_their_modes(home: Path) -> None:
    written = write_dotfiles(
        home, [spec(".bashrc", "alias ll='ls -l'\n", "755"), spec(".config/a/b.toml", "k=1")],
        UID, GID,
    )  # fmt: skip
    assert written == [".bashrc", ".config/a/b.toml"]
    assert (home / ".bashrc").read_text() == "alias ll='ls -l'\n"
    assert stat.S_IMODE((home / ".bashrc").stat().st_mode) == 0o755
    assert (home / ".config/a/b.toml").read_text() == "k=1"


def test_an_existing_file_is_replaced_whole(home: Path) -> None:
    (home / ".profile").write_text("a much longer old content\n")
    write_dotfiles(home, [spec(".profile", "new")], UID, GID)
    assert (home / ".profile").read_text() == "new"


@pytest.mark.parametrize(
    "path", ["../outside/secret", "/etc/passwd", "a/../../outside/secret", "", "/home/work"]
)
def test_hostile_paths_are_skipped(home: Path, outside: Path, path: str) -> None:
    assert write_dotfiles(home, [spec(path, "pwned")], UID, GID) == []
    assert (outside / "secret").read_text() == "untouched"


def test_a_symlinked_file_is_never_followed(home: Path, outside: Path) -> None:
    (home / ".bashrc").symlink_to(outside / "secret")
    written = write_dotfiles(home, [spec(".bashrc", "pwned"), spec(".ok", "fine")], UID, GID)
    assert written == [".ok"]
    assert (outside / "secret").read_text() == "untouched"


def test_a_symlinked_directory_is_never_followed(home: Path, outside: Path) -> None:
    (home / ".config").symlink_to(outside)
    assert write_dotfiles(home, [spec(".config/secret", "pwned")], UID, GID) == []
    assert (outside / "secret").read_text() == "untouched"
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


def test_a_dangling_symlink_is_not_created_through(home: Path, outside: Path) -> None:
    (home / ".vimrc").symlink_to(outside / "new-file")
    assert write_dotfiles(home, [spec(".vimrc", "pwned")], UID, GID) == []
    assert not (outside / "new-file").exists()


def test_a_hard_link_is_not_written_through(home: Path, outside: Path) -> None:
    os.link(outside / "secret", home / ".bashrc")
    assert write_dotfiles(home, [spec(".bashrc", "pwned")], UID, GID) == []
    assert (outside / "secret").read_text() == "untouched"


def test_a_fifo_or_directory_in_the_way_is_skipped_without_waiting(home: Path) -> None:
    os.mkfifo(home / ".fifo")
    (home / ".dir").mkdir()
    written = write_dotfiles(home, [spec(".fifo"), spec(".dir"), spec(".ok")], UID, GID)
    assert written == [".ok"]


def test_special_permission_bits_are_refused(home: Path) -> None:
    assert write_dotfiles(home, [spec(".x", "#!/bin/sh", "4755")], UID, GID) == []


def test_count_and_size_are_bounded(home: Path) -> None:
    many = [spec(f".f{i}", "") for i in range(rules.MAX_MERGED_COUNT + 5)]
    assert len(write_dotfiles(home, many, UID, GID)) == rules.MAX_MERGED_COUNT
    big = "x" * (rules.MAX_MERGED_DATA // 2 + 1)
    assert write_dotfiles(home, [spec(".a", big), spec(".b", big)], UID, GID) == [".a"]


async def test_a_new_container_gets_its_dotfiles(agent: Agent) -> None:
    created = await agent.create(
        dotfiles=[{"path": ".bashrc", "data": "export HELLO=1\n", "permission": "644"}]
    )
    home = agent.settings.data_dir / "kernels" / created["kernel_id"] / "home"
    assert (home / ".bashrc").read_text() == "export HELLO=1\n"


@pytest.fixture
async def pooled(short_dir: Path) -> AsyncIterator[PoolAgent]:
    backend = FakeBackend()
    agent = await start(short_dir, backend)
    yield agent
    await agent.client.close()
    await backend.close()


async def test_a_claimed_pool_container_gets_them_safely(pooled: PoolAgent, tmp_path: Path) -> None:
    [member] = await pooled.until_idle(1)
    [pool_member] = [m for m in pooled.registry.pool.idle[next(iter(pooled.registry.pool.idle))]]
    outside = tmp_path / "victim"
    outside.write_text("untouched")
    # Something in the pool container's home already points outside it.
    (pool_member.paths.home / ".bashrc").symlink_to(outside)
    created = await pooled.create(
        dotfiles=[
            {"path": ".bashrc", "data": "pwned", "permission": "644"},
            {"path": ".config/tool.toml", "data": "a = 1", "permission": "600"},
        ]
    )
    assert created["container_id"] == member  # it was claimed, not made anew
    claim = json.loads(
        (pooled.data_dir / "kernels" / created["kernel_id"] / CLAIM_FILE).read_text()
    )
    home = Path(claim["root"]) / "home"
    assert outside.read_text() == "untouched"
    assert (home / ".config/tool.toml").read_text() == "a = 1"
    assert stat.S_IMODE((home / ".config/tool.toml").stat().st_mode) == 0o600
