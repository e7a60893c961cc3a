"""The manager's own state: running or frozen (``manager freeze``), and the announcement.

Both live in the shared configuration (``config_entries``), so every manager process of a
deployment sees the same state. A frozen manager starts no new sessions; sessions already
running keep working, or are ended at once with ``force_kill``.
"""

from __future__ import annotations

import contextlib
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.errors import PlatformError, ServerFrozen
from backendai.manager import authz
from backendai.manager.authz import Action, Resource
from backendai.manager.db.models import Session
from backendai.manager.lifecycle import LIVE_STATUSES
from backendai.manager.services.auth import Principal
from backendai.manager.services.session_control import SessionControl
from backendai.manager.services.shared_config import ANNOUNCEMENT_KEY, STATUS_KEY, read, write

FROZEN_MESSAGE = (
    "The manager is frozen for maintenance and starts no new sessions. Sessions already "
    "running keep working. Try again later, or ask an administrator to run "
    "`backend.ai manager unfreeze`."
)


class ManagerState(StrEnum):
    RUNNING = "running"
    FROZEN = "frozen"


async def state_of(db: AsyncSession) -> ManagerState:
    return ManagerState.FROZEN if await read(db, STATUS_KEY) == "frozen" else ManagerState.RUNNING


async def ensure_running(db: AsyncSession) -> None:
    """Refuse a new session while the manager is frozen."""
    if await state_of(db) is ManagerState.FROZEN:
        raise ServerFrozen(FROZEN_MESSAGE)


class ManagerStatus:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], control: SessionControl, announcement: str
    ) -> None:
        self._db = db
        self._control = control
        self._default_announcement = announcement  # from the settings, until one is posted

    async def status(self, principal: Principal) -> dict[str, object]:
        authz.require_any(principal, Resource.MANAGER, Action.READ)
        async with self._db() as db:
            state = await state_of(db)
            active = await db.scalar(
                sa.select(sa.func.count()).select_from(Session).where(
                    Session.status.in_(LIVE_STATUSES))
            )  # fmt: skip
        return {"status": state.value, "active_sessions": int(active or 0)}

    async def set_state(self, principal: Principal, state: ManagerState, force_kill: bool) -> None:
        authz.require_any(principal, Resource.MANAGER, Action.UPDATE)
        async with self._db() as db, db.begin():
            await write(db, {STATUS_KEY: state.value})
        if state is ManagerState.FROZEN and force_kill:
            async with self._db() as db:
                ids = list(await db.scalars(
                    sa.select(Session.id).where(Session.status.in_(LIVE_STATUSES))))  # fmt: skip
            for session_id in ids:
                with contextlib.suppress(PlatformError):  # ended meanwhile
                    await self._control.terminate(
                        session_id, reason="force-killed-by-freeze", forced=True, wait=False
                    )

    async def announcement(self, principal: Principal) -> dict[str, object]:
        authz.require_any(principal, Resource.ANNOUNCEMENT, Action.READ)
        async with self._db() as db:
            stored = await read(db, ANNOUNCEMENT_KEY)
        message = self._default_announcement if stored is None else stored
        return {"enabled": bool(message), "message": message}

    async def announce(self, principal: Principal, enabled: bool, message: str | None) -> None:
        """Post (``enabled``) or delete the announcement."""
        authz.require_any(principal, Resource.ANNOUNCEMENT, Action.UPDATE)
        async with self._db() as db, db.begin():
            await write(db, {ANNOUNCEMENT_KEY: (message or "") if enabled else ""})
