"""Private host files: 0700 directories and 0600 files, tightened when looser and ours."""

from __future__ import annotations

import stat
from pathlib import Path

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
