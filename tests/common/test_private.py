"""Private host files: 0700 directories and 0600 files, tightened when looser and ours."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backendai.common.private import private_dir, private_file
from backendai.manager.db.engine import create_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_and_existing_directories(tmp_path: Path) -> None:
    assert _mode(private_dir(tmp_path / "a" / "b")) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    private_dir(loose)
    assert _mode(loose) == 0o700


def test_files_keep_their_content(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("secret")
    path.chmod(0o644)
    private_file(path)
    assert (_mode(path), path.read_text()) == (0o600, "secret")


async def test_the_sqlite_database_and_its_wal_are_private(tmp_path: Path) -> None:
    db = tmp_path / "manager.db"
    (tmp_path / "manager.db-shm").write_bytes(b"")  # left by an older install
    (tmp_path / "manager.db-shm").chmod(0o644)
    engine = create_engine(f"sqlite:///{db}")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            await conn.commit()
            assert _mode(tmp_path / "manager.db-wal") == 0o600  # SQLite copies the db's mode
            assert _mode(tmp_path / "manager.db-shm") == 0o600
    finally:
        await engine.dispose()
    assert _mode(db) == 0o600


def test_an_existing_file_is_never_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing any descriptor of a file drops this process's POSIX locks on it: SQLite's."""
    path = tmp_path / "db"
    path.write_text("x")
    path.chmod(0o644)
    opened: list[str] = []
    real_open = os.open

    def spy(p: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        fd = real_open(p, flags, mode, **kw)
        opened.append(str(p))
        return fd

    monkeypatch.setattr(os, "open", spy)
    private_file(path)
    assert opened == []
    assert _mode(path) == 0o600


async def test_a_second_engine_keeps_the_first_ones_wal(tmp_path: Path) -> None:
    """A manager that made a second engine (up's readiness probe) dropped its locks, and
    another connection's close then deleted the live WAL: sessions went back in time."""
    db = tmp_path / "manager.db"
    first = create_engine(f"sqlite:///{db}")
    try:
        async with first.connect() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            await conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            await conn.commit()
            second = create_engine(f"sqlite:///{db}")
            await second.dispose()
            peek = "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('SELECT * FROM t')"
            argv = [sys.executable, "-c", peek, str(db)]
            await asyncio.to_thread(subprocess.run, argv, check=True)
            assert (tmp_path / "manager.db-wal").exists()
            await conn.exec_driver_sql("INSERT INTO t VALUES (2)")
            await conn.commit()
        async with first.connect() as conn:
            assert (await conn.exec_driver_sql("SELECT count(*) FROM t")).scalar() == 2
    finally:
        await first.dispose()
