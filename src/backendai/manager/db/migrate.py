"""Alembic, driven from code: no ``alembic.ini``, usable from inside a running event loop.

The manager upgrades its database at start-up, inside its event loop, so every command here
opens an async engine and hands Alembic the sync view of one connection through
``config.attributes["connection"]`` (``migrations/env.py`` picks it up).

To write a new revision against a scratch database, from a shell (no loop running)::

    python -c "from alembic import command; from backendai.manager.db.migrate import \\
        alembic_config; command.revision(alembic_config('sqlite:///scratch.db'), \\
        message='add foo', autogenerate=True)"

(upgrade the scratch database to head first, then review the generated file by hand).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from backendai.common.errors import InternalError
from backendai.manager.db.engine import create_engine, to_async_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for our migration scripts and the database at ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # The value goes through ConfigParser interpolation: a "%" in a password must be doubled.
    url_text = to_async_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url_text.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision of our migration scripts."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "no migration scripts found"
    return head


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision`` (creating every table on an empty one)."""
    await _run(url, lambda config: command.upgrade(config, revision))


async def downgrade(url: str, revision: str) -> None:
    """Take the database at ``url`` down to ``revision`` (``"base"`` drops every table)."""
    await _run(url, lambda config: command.downgrade(config, revision))


async def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at; ``None`` if it was never migrated."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
            )
    finally:
        await engine.dispose()


async def _run(url: str, alembic_command: Callable[[Config], None]) -> None:
    config = alembic_config(url)
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                await _run_sqlite(conn, config, alembic_command)
            else:
                # PostgreSQL has transactional DDL: a failing revision leaves nothing behind.
                async with conn.begin():
                    await conn.run_sync(_run_with_connection, config, alembic_command)
    finally:
        await engine.dispose()


async def _run_sqlite(
    conn: AsyncConnection, config: Config, alembic_command: Callable[[Config], None]
) -> None:
    # Batch migrations rebuild SQLite tables (copy, drop, rename); with foreign keys on,
    # dropping the old table would cascade-delete the rows that reference it. The pragma is
    # a no-op inside a transaction, hence set (and committed) before one starts.
    await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    await conn.commit()
    try:
        async with conn.begin():
            # sqlite3 only opens a transaction before DML, so DDL would autocommit statement
            # by statement; an explicit BEGIN makes a failing migration roll back whole.
            await conn.exec_driver_sql("BEGIN")
            await conn.run_sync(_run_with_connection, config, alembic_command)
            violations = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).fetchall()
            if violations:
                raise InternalError(
                    f"migration left rows violating foreign keys: {violations[:10]}"
                )
    finally:
        # The connection goes back to the pool: restore what engine.py set up.
        await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        await conn.commit()


def _run_with_connection(
    connection: Connection, config: Config, alembic_command: Callable[[Config], None]
) -> None:
    config.attributes["connection"] = connection
    alembic_command(config)
