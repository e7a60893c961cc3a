"""The services' side of the launcher's ``LaunchOutcomes``: dotfiles from the dotfile store,
a failed start recorded in the error log and ended through ``SessionControl``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.agent_protocol import DotfileSpec
from backendai.manager.db.models import Session
from backendai.manager.scheduler.outcomes import KernelHandle
from backendai.manager.services.dotfiles import session_dotfiles
from backendai.manager.services.error_logs import ErrorReport, record
from backendai.manager.services.session_control import SessionControl


class LaunchReports:
    def __init__(self, db: async_sessionmaker[AsyncSession], control: SessionControl) -> None:
        self._db, self._control = db, control

    async def dotfiles(self, db: AsyncSession, session: Session) -> list[DotfileSpec]:
        return await session_dotfiles(db, session.access_key, session.group_id, session.domain_name)

    async def failed_to_start(
        self, session_id: uuid.UUID, user: uuid.UUID, agent_id: str, why: str
    ) -> None:
        await record(self._db, ErrorReport(why, source=f"agent:{agent_id}", user=user))
        await self._control.fail(session_id, "failed-to-start", why)

    async def clean_up(self, handles: Sequence[KernelHandle]) -> None:
        await self._control.clean_up(list(handles))
