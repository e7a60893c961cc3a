"""Idle sessions: terminated after the keypair policy's ``idle_timeout`` without use.

Use is code execution and app traffic through the manager; each bumps the session's
``last_activity`` (written at most once per ``TOUCH_EVERY`` to spare the database). A session
never used counts from when it started running. A timeout of 0 means never.

Batch sessions are never idle: nobody uses them while their task runs, and they end by
themselves when it ends. The lifetime limit holds for them too.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.statuses import SessionStatus, SessionType
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import KeyPair, KeyPairResourcePolicy, Session
from backendai.manager.services.session_control import SessionControl

log = logging.getLogger(__name__)

TOUCH_EVERY = timedelta(seconds=10)
IDLE_REASON = "idle-timeout"
LIFETIME_REASON = "max-session-lifetime"


class IdleReaper:
    def __init__(self, db: async_sessionmaker[AsyncSession], control: SessionControl) -> None:
        self._db = db
        self._control = control
        self._touched: dict[uuid.UUID, datetime] = {}

    async def touch(self, session_id: uuid.UUID, now: datetime | None = None) -> None:
        """Record that the session is in use."""
        now = now or utcnow()
        last = self._touched.get(session_id)
        if last is not None and now - last < TOUCH_EVERY:
            return
        self._touched[session_id] = now
        async with self._db() as db, db.begin():
            await db.execute(
                sa.update(Session)
                .where(Session.id == session_id)
                .values(last_activity=now)
                .execution_options(synchronize_session=False)
            )

    async def idle_sessions(self, now: datetime) -> list[uuid.UUID]:
        async with self._db() as db:
            rows = await db.execute(
                sa.select(
                    Session.id,
                    Session.last_activity,
                    Session.status_changed,
                    KeyPairResourcePolicy.idle_timeout,
                )
                .join(KeyPair, KeyPair.access_key == Session.access_key)
                .join(KeyPairResourcePolicy, KeyPairResourcePolicy.name == KeyPair.resource_policy)
                .where(
                    Session.status == SessionStatus.RUNNING,
                    Session.session_type != SessionType.BATCH,
                )
            )
            return [
                sid
                for sid, last_activity, changed, timeout in rows
                if timeout > 0 and now - (last_activity or changed) > timedelta(seconds=timeout)
            ]

    async def expired_sessions(self, now: datetime) -> list[uuid.UUID]:
        """Sessions running longer than their keypair policy's ``max_session_lifetime``
        (seconds since creation; 0 means no limit)."""
        async with self._db() as db:
            rows = await db.execute(
                sa.select(
                    Session.id, Session.created_at, KeyPairResourcePolicy.max_session_lifetime
                )
                .join(KeyPair, KeyPair.access_key == Session.access_key)
                .join(KeyPairResourcePolicy, KeyPairResourcePolicy.name == KeyPair.resource_policy)
                .where(
                    Session.status == SessionStatus.RUNNING,
                    KeyPairResourcePolicy.max_session_lifetime > 0,
                )
            )
            return [
                sid
                for sid, created_at, lifetime in rows
                if now - created_at > timedelta(seconds=lifetime)
            ]

    async def sweep(self, now: datetime | None = None) -> list[uuid.UUID]:
        """Terminate every session idle for longer than its timeout, or running longer than
        its lifetime; returns them."""
        now = now or utcnow()
        idle = await self.idle_sessions(now)
        expired = [s for s in await self.expired_sessions(now) if s not in idle]
        reasons = {s: IDLE_REASON for s in idle} | {s: LIFETIME_REASON for s in expired}
        for session_id, reason in reasons.items():
            log.info("terminating session %s: %s", session_id, reason)
            try:
                await self._control.terminate(session_id, reason=reason)
            except Exception:
                log.exception("could not terminate the session %s (%s)", session_id, reason)
            self._touched.pop(session_id, None)
        return [*idle, *expired]
