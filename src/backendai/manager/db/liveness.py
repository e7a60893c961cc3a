"""Which manager processes are alive, so that work one manager claimed is never taken over by
another while the first still does it.

Every manager takes a random id at start. On PostgreSQL it holds a session-level advisory lock
derived from that id, on one connection of its own, for as long as it runs; PostgreSQL releases
the lock when the process dies (its connection closes). A manager that finds a session claimed
by another id asks whether that owner is alive with ``pg_try_advisory_lock``: getting the lock
means nobody holds it (it is released again at once). SQLite serves one manager process, so
there every other id belongs to an earlier, dead run.

Claims are written into the session's ``status_data`` under ``CLAIM_KEY`` by the transaction
that changes its status, under the session's row lock.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from contextlib import suppress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

log = logging.getLogger(__name__)

CLAIM_KEY = "handled_by"
# The first key of the two-key advisory locks held by managers ("BAIM"); the two-key form never
# collides with single-key (bigint) advisory locks.
LEASE_NAMESPACE = 0x4241494D


def _key(manager_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(manager_id.encode(), digest_size=4).digest(), "big",
                          signed=True)  # fmt: skip


class ManagerLease:
    """This manager's id and its proof of life; ``alive`` asks about another manager's."""

    def __init__(self, engine: AsyncEngine | None, manager_id: str | None = None) -> None:
        self.id = manager_id or f"mgr-{secrets.token_hex(6)}"
        self._engine = engine
        self._postgres = engine is not None and engine.dialect.name == "postgresql"
        self._conn: AsyncConnection | None = None

    def claim(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """``data`` (a status_data) marked as handled by this manager."""
        return {**(data or {}), CLAIM_KEY: self.id}

    @staticmethod
    def owner(data: dict[str, Any] | None) -> str | None:
        value = (data or {}).get(CLAIM_KEY)
        return value if isinstance(value, str) else None

    async def acquire(self) -> None:
        """Start holding this manager's lock (PostgreSQL); idempotent."""
        if not self._postgres or self._conn is not None:
            return
        assert self._engine is not None
        conn = await self._engine.connect()
        try:
            await conn.execute(sa.text("SELECT pg_advisory_lock(:ns, :key)"), self._params(self.id))
            await conn.commit()  # the lock is the connection's, not the transaction's
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        log.info("manager id %s", self.id)

    async def refresh(self) -> None:
        """Check that the lock's connection still stands (PostgreSQL may have restarted, which
        ends it); take the lock again on a new one if not."""
        if self._conn is None:
            return
        try:
            await self._conn.execute(sa.text("SELECT 1"))
            await self._conn.commit()
        except (DBAPIError, OSError) as e:
            log.warning("the connection holding manager %s's lease broke (%s); taking it again",
                        self.id, e)  # fmt: skip
            conn, self._conn = self._conn, None
            with suppress(DBAPIError, OSError):
                await conn.invalidate()
                await conn.close()
            await self.acquire()

    async def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            # Closing would return the connection, lock and all, to the pool: end it instead.
            await conn.invalidate()
            await conn.close()

    async def alive(self, db: AsyncSession, other: str | None) -> bool:
        """Whether the manager ``other`` still runs (this one always does)."""
        if other is None:
            return False
        if other == self.id:
            return True
        if not self._postgres:
            return False
        params = self._params(other)
        free = await db.scalar(sa.text("SELECT pg_try_advisory_lock(:ns, :key)"), params)
        if free:
            await db.execute(sa.text("SELECT pg_advisory_unlock(:ns, :key)"), params)
        return not free

    @staticmethod
    def _params(manager_id: str) -> dict[str, int]:
        return {"ns": LEASE_NAMESPACE, "key": _key(manager_id)}
