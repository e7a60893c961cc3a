"""Async engines for the two supported databases: SQLite (aiosqlite) and PostgreSQL (asyncpg).

Settings and operators write plain URLs (``sqlite:///var/manager.db``,
``postgresql://user:pw@host/db``); everything in the manager is async, so the URL is mapped
onto the async driver here, in one place, instead of asking every caller to know driver names.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from backendai.common.errors import ConfigurationError
from backendai.common.private import private_file

# How long a SQLite connection waits for another writer's lock before failing with
# "database is locked": the scheduler and the API handlers write concurrently.
SQLITE_BUSY_TIMEOUT_S = 30.0

# Backend name -> the drivers we accept (the first one is what a bare backend name maps to).
# Sync drivers (pysqlite, psycopg2) are rejected rather than swapped: a URL naming one was
# written for some other program, and silently changing it would hide that mistake.
_ASYNC_DRIVERS: dict[str, tuple[str, ...]] = {
    "sqlite": ("aiosqlite",),
    "postgresql": ("asyncpg",),
}
_BACKEND_ALIASES = {"postgres": "postgresql", "pgsql": "postgresql"}


def to_async_url(url: str | sa.URL) -> sa.URL:
    """Map a database URL onto its async driver; raise ``ConfigurationError`` if unsupported."""
    try:
        parsed = sa.make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError) as e:
        raise ConfigurationError(f"Invalid database URL: {_safe(url)!r} ({e})") from e
    backend, _, driver = parsed.drivername.partition("+")
    backend = _BACKEND_ALIASES.get(backend, backend)
    drivers = _ASYNC_DRIVERS.get(backend)
    if drivers is None:
        supported = ", ".join(f"{b}://" for b in _ASYNC_DRIVERS)
        raise ConfigurationError(
            f"Unsupported database URL scheme {parsed.drivername!r}: use one of {supported}"
        )
    if driver and driver not in drivers:
        raise ConfigurationError(
            f"Unsupported database driver {parsed.drivername!r}: "
            f"use {backend}:// or {backend}+{drivers[0]}://"
        )
    return parsed.set(drivername=f"{backend}+{drivers[0]}")


def create_engine(
    url: str | sa.URL, *, echo: bool = False, busy_timeout: float = SQLITE_BUSY_TIMEOUT_S
) -> AsyncEngine:
    """Create an async engine for ``url`` with the per-backend settings the manager relies on.

    ``busy_timeout``: seconds a SQLite connection waits for another writer before "database
    is locked" (which the API answers with 503 and Retry-After)."""
    async_url = to_async_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if async_url.get_backend_name() == "sqlite":
        # sqlite3's own busy handler, so that waiting happens in the driver's thread.
        kwargs["connect_args"] = {"timeout": busy_timeout}
    else:
        # Pooled connections to a server can go stale (server restarts, idle timeouts).
        kwargs["pool_pre_ping"] = True
    database = async_url.database
    if async_url.get_backend_name() == "sqlite" and database and database != ":memory:":
        # The file holds every secret key: readable by us alone. SQLite gives its -wal and
        # -shm files the main file's mode.
        private_file(Path(database))
        for suffix in ("-wal", "-shm", "-journal"):  # left by an older, looser install
            if Path(database + suffix).exists():
                private_file(Path(database + suffix))
    engine = _create_async_engine(async_url, **kwargs)
    if async_url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", partial(_on_sqlite_connect, busy_timeout))
    return engine


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (handlers render them afterwards)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _on_sqlite_connect(
    busy_timeout: float, dbapi_connection: Any, connection_record: ConnectionPoolEntry
) -> None:
    # SQLite ignores foreign keys unless asked, per connection; PostgreSQL always enforces
    # them, and both engines must behave the same.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        # Write-ahead logging: readers never wait for a writer, and a commit costs one
        # append instead of rewriting a rollback journal (sessions change status several times
        # a second under load). NORMAL syncs at checkpoints, not every commit: a power loss
        # may lose the last commits, never corrupt the file; a crash of the manager loses
        # nothing. (An in-memory database stays in its own "memory" mode.)
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _safe(url: object) -> str:
    """The URL without its password, for error messages that end up in logs."""
    if isinstance(url, sa.URL):
        return url.render_as_string(hide_password=True)
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return text
