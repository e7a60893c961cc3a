"""Ending batch sessions when their task ends (``common.batch_tasks``, "Manager").

The agent says a task ended twice over: a ``TASK_FINISHED`` event, and every heartbeat after
it (``ContainerInfo.task_exit_code``), so that a manager that missed the event still learns it.
Either may come first, both usually come, and several managers may see them; the one whose
transaction, under the session's row lock, finds the session still starting or running sets
its result and exit code and turns it TERMINATING (claimed by its manager). That manager then
ends it the way every session ends (``SessionControl``): the task log is kept, the containers
are destroyed, the session is TERMINATED. The others find it TERMINATING and do nothing.

The agent answers the create call before the task runs, so a quick task may end while the
session is still PREPARING: it is ended from there just the same, and the launcher, finding
it no longer launchable when the create returns, destroys the container (again: idempotent).
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.agent_protocol import KernelEvent
from backendai.common.statuses import SessionResult, SessionType
from backendai.common.statuses import SessionStatus as S
from backendai.manager.db.models import Kernel, Session
from backendai.manager.lifecycle import load_for_update
from backendai.manager.services.task_logs import TaskOutcome

if TYPE_CHECKING:  # session_control keeps the task log with ``settle_result``
    from backendai.manager.scheduler.outcomes import KernelHandle
    from backendai.manager.services.session_control import SessionControl

log = logging.getLogger(__name__)

TASK_FINISHED = "task-finished"
# Statuses in which a session's task may end (it runs from the create call on).
TASK_LIVE = frozenset({S.PREPARING, S.PULLING, S.RUNNING, S.RESTARTING})


def result_of(exit_code: int | None) -> SessionResult:
    return SessionResult.SUCCESS if exit_code == 0 else SessionResult.FAILURE


def settle_result(s: Session, outcome: TaskOutcome | None) -> dict[str, Any]:
    """For a session becoming TERMINATED: a batch session's result, if nothing decided it yet
    (it was removed, idle or failed before its task ended: FAILURE, unless the agent said, as
    its log was kept, that the task had ended). Returns the status data to keep."""
    code = s.status_data.get("exit_code") if s.status_data else None
    if s.session_type is not SessionType.BATCH:
        return {}
    if s.result is SessionResult.UNDEFINED:
        finished = outcome is not None and outcome.state == "finished"
        code = outcome.exit_code if finished and outcome is not None else None
        s.result = result_of(code) if finished else SessionResult.FAILURE
    return {"exit_code": code} if code is not None else {}


class BatchTasks:
    def __init__(self, db: async_sessionmaker[AsyncSession], control: SessionControl) -> None:
        self._db = db
        self._control = control

    async def claim(
        self,
        db: AsyncSession,
        session_id: uuid.UUID,
        exit_code: int | None,
        reason: str = TASK_FINISHED,
    ) -> list[KernelHandle] | None:
        """Inside the caller's transaction: record that the batch session's task ended with
        ``exit_code`` and turn it TERMINATING. None when the session is not a batch session
        whose task could still be running (another manager, or an earlier event, did it).
        The caller ends it, after the commit, with ``finish``."""
        s = await load_for_update(db, session_id)
        if s is None or s.session_type is not SessionType.BATCH or s.status not in TASK_LIVE:
            return None
        s.result = result_of(exit_code)
        log.info("the task of session %s ended with %s", session_id, exit_code)
        return await self._control.begin_terminating(
            db, s, reason=reason, data={"exit_code": exit_code}
        )

    def finish(self, session_id: uuid.UUID, reason: str, handles: list[KernelHandle]) -> None:
        """In the background: keep the log, destroy the containers, TERMINATED."""
        self._control.finish_later(session_id, reason, handles)

    async def task_finished(self, ev: KernelEvent) -> None:
        """An agent's ``TASK_FINISHED``. Answered at once: the log is copied from that very
        agent, which should not wait on it to post its event."""
        async with self._db() as db, db.begin():
            k = await db.get(Kernel, ev.kernel_id)
            if k is None or k.agent != ev.agent_id or k.cluster_role != "main":
                return
            handles = await self.claim(db, k.session_id, ev.exit_code)
        if handles is not None:
            self.finish(k.session_id, TASK_FINISHED, handles)
