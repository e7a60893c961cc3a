"""A locked or overloaded database is a 503 with Retry-After, not a generic 500."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy.exc as sa_exc

from backendai.manager.api.db_errors import is_transient
from tests.fixtures.platform import running_manager
from tests.manager.conftest import count_sessions, create, create_body
from tests.manager.fake_agent import FakeAgent


async def test_a_locked_database_answers_503_and_keeps_nothing(
    tmp_path: Path, agent: FakeAgent
) -> None:
    async with running_manager(tmp_path, db_busy_timeout=0.2) as m:
        assert await agent.send_heartbeat(m) == 200
        blocker = sqlite3.connect(tmp_path / "manager.db", isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the lock
            resp = await m.signed(
                "POST", "/session", body=create_body("locked-out", enqueueOnly=True)
            )
            body = await resp.json(content_type=None)
            assert resp.status == 503, body
            assert resp.headers["Retry-After"] == "2"
            assert body["type"].endswith("/service-unavailable")
            assert "try again in 2 s" in body["msg"]
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await count_sessions(m) == 0
        status, created = await create(m, "locked-out", enqueueOnly=True)
        assert status == 201, created  # the retry goes through


class _Orig(Exception):
    pass


class LockNotAvailableError(Exception):
    pass


def test_which_driver_errors_are_transient() -> None:
    locked = sa_exc.OperationalError("INSERT", {}, _Orig("database is locked"))
    assert is_transient(locked)
    pg_lock = sa_exc.DBAPIError("UPDATE", {}, LockNotAvailableError("could not obtain lock"))
    assert is_transient(pg_lock)
    assert is_transient(sa_exc.TimeoutError("QueuePool limit reached"))
    broken = sa_exc.IntegrityError("INSERT", {}, _Orig("UNIQUE constraint failed"))
    assert not is_transient(broken)
    assert not is_transient(sa_exc.OperationalError("SELECT", {}, _Orig("no such table: x")))
