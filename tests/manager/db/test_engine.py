"""URL handling and per-connection settings of the manager's database engines."""

from __future__ import annotations

import pytest

from backendai.common.errors import ConfigurationError
from backendai.manager.db.engine import (
    SQLITE_BUSY_TIMEOUT_S,
    create_engine,
    create_session_factory,
    to_async_url,
)


@pytest.mark.parametrize(
    ("url", "expected"),  # expected: as rendered with the password
    [
        ("sqlite:///var/manager.db", "sqlite+aiosqlite:///var/manager.db"),
        ("sqlite:////abs/manager.db", "sqlite+aiosqlite:////abs/manager.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("sqlite+aiosqlite:///m.db", "sqlite+aiosqlite:///m.db"),
        ("postgresql://u:p@db:5432/bai", "postgresql+asyncpg://u:p@db:5432/bai"),
        ("postgres://u:p@db/bai", "postgresql+asyncpg://u:p@db/bai"),
        ("postgresql+asyncpg://u@db/bai", "postgresql+asyncpg://u@db/bai"),
        (
            "postgresql://u:p%40s@db/bai?ssl=require",
            "postgresql+asyncpg://u:p%40s@db/bai?ssl=require",
        ),
    ],
)
def test_plain_urls_map_onto_async_drivers(url: str, expected: str) -> None:
    assert to_async_url(url).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    "url", ["mysql://u:p@db/bai", "oracle://db", "mssql+pyodbc://db", "redis://localhost"]
)
def test_unsupported_scheme_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="Unsupported database URL scheme"):
        create_engine(url)


@pytest.mark.parametrize("url", ["sqlite+pysqlite:///m.db", "postgresql+psycopg2://u@db/bai"])
def test_sync_driver_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="Unsupported database driver"):
        to_async_url(url)


@pytest.mark.parametrize("url", ["not a url", "postgresql://u:secret@db:notaport/bai", ""])
def test_unparsable_url_is_a_configuration_error_without_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError, match="Invalid database URL") as exc_info:
        to_async_url(url)
    assert "secret" not in str(exc_info.value)


async def test_sqlite_connections_enforce_foreign_keys_and_wait_for_locks(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            busy_ms = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
            assert busy_ms == int(SQLITE_BUSY_TIMEOUT_S * 1000)
    finally:
        await engine.dispose()


async def test_session_factory_keeps_objects_readable_after_commit(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        factory = create_session_factory(engine)
        assert factory.kw["expire_on_commit"] is False
    finally:
        await engine.dispose()
