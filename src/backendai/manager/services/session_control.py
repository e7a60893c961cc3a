"""Ending and restarting sessions, for users (``rm``, ``restart``) and for the manager itself
(idle timeout, vanished or crashed containers, failed starts).

Status changes happen in short transactions; agents are called between them, never while a
transaction is open. Destroying is idempotent, and a container that survives a failed destroy
is removed later by the heartbeat reconciliation (its kernel is dead in the database).

A batch session's task log is kept (``task_logs``) before its containers are destroyed, on
every path that destroys them; a batch session that ends before its task did has failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.agent_protocol import DestroyResult, KernelCreated, KernelStats
from backendai.common.errors import AgentError, InvalidRequest, SessionNotFound
from backendai.common.statuses import SessionResult, SessionType
from backendai.common.statuses import SessionStatus as S
from backendai.manager.agent_client import AgentClient
from backendai.manager.db.liveness import ManagerLease
from backendai.manager.db.models import Kernel, Session
from backendai.manager.lifecycle import FINAL_STATUSES, load_for_update, transition
from backendai.manager.scheduler.outcomes import KernelHandle
from backendai.manager.services.batch_tasks import settle_result
from backendai.manager.services.task_logs import TaskLogStore, TaskOutcome, TaskTarget

log = logging.getLogger(__name__)


async def kernel_handles(db: AsyncSession, session_id: uuid.UUID) -> list[KernelHandle]:
    rows = await db.execute(
        sa.select(Kernel, Session.session_type)
        .join(Session, Session.id == Kernel.session_id)
        .where(Kernel.session_id == session_id)
    )
    return [
        KernelHandle(k.id, k.agent, k.agent_addr, _task_of(k, session_type))
        for k, session_type in rows
        if k.agent is not None and k.agent_addr is not None
    ]


def _task_of(k: Kernel, session_type: SessionType) -> uuid.UUID | None:
    return k.session_id if session_type is SessionType.BATCH and k.cluster_role == "main" else None


def _tasks(handles: list[KernelHandle]) -> list[TaskTarget]:
    return [TaskTarget(h.task_of, h.kernel_id, h.addr) for h in handles if h.task_of is not None]


def _stats(results: Sequence[DestroyResult | KernelStats]) -> dict[str, Any] | None:
    for r in results:
        if r.last_stat:
            return {**r.last_stat, "version": 2, "status": "terminated"}
    return None


class SessionControl:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        agents: AgentClient,
        on_release: Callable[[], None] = lambda: None,
        lease: ManagerLease | None = None,
    ) -> None:
        self._db = db
        self._agents = agents
        self._on_release = on_release
        self._lease = lease or ManagerLease(None)
        self._background: set[asyncio.Task[None]] = set()
        self.task_logs = TaskLogStore(db, agents)

    async def terminate(
        self,
        session_id: uuid.UUID,
        *,
        reason: str = "user-requested",
        forced: bool = False,
        wait: bool = True,
    ) -> dict[str, Any] | None:
        """End a session: PENDING ones are CANCELLED, the others go TERMINATING, their
        containers are destroyed, then TERMINATED. Returns the last stats, if the agent had any.

        ``wait=False`` (``DELETE /session``) returns as soon as the session is TERMINATING,
        with the stats read from the agent at that moment; the containers are destroyed in the
        background and the session becomes TERMINATED when they are gone. ``forced`` does not
        wait for the agent at all: the session is TERMINATED at once."""
        async with self._db() as db, db.begin():
            s = await load_for_update(db, session_id)
            if s is None:
                raise SessionNotFound(f"No session {session_id}.")
            if s.status in FINAL_STATUSES:
                return None
            handles = await kernel_handles(db, s.id)
            if s.status is S.PENDING or (s.status is S.SCHEDULED and not handles):
                await transition(db, s, S.CANCELLED, reason=reason)
                return None
            if s.status is S.ERROR:  # its containers went when it failed
                info, data = s.status_info, s.status_data
                await transition(db, s, S.TERMINATED, reason=reason, info=info, data=data)
                return None
            if s.status is not S.TERMINATING:
                await transition(db, s, S.TERMINATING, reason=reason, data=self._lease.claim())
        if forced:
            self._spawn(self.clean_up(handles))
            return await self._finish(session_id, reason, [], None)
        if not wait:
            stats = await self._current_stats(handles)
            self._spawn(self._destroy_and_finish(session_id, reason, handles))
            return stats
        return await self._destroy_and_finish(session_id, reason, handles)

    async def begin_terminating(
        self, db: AsyncSession, s: Session, *, reason: str, data: dict[str, Any] | None = None
    ) -> list[KernelHandle]:
        """Inside the caller's transaction: ``s`` becomes TERMINATING, claimed by this manager,
        with ``data`` as its status data. Returns the containers that ``finish_later`` ends."""
        await transition(db, s, S.TERMINATING, reason=reason, data=self._lease.claim(data))
        return await kernel_handles(db, s.id)

    def finish_later(self, session_id: uuid.UUID, reason: str, handles: list[KernelHandle]) -> None:
        """End a TERMINATING session in the background (``begin_terminating``)."""
        self._spawn(self._destroy_and_finish(session_id, reason, handles))

    async def _destroy_and_finish(
        self, session_id: uuid.UUID, reason: str, handles: list[KernelHandle]
    ) -> dict[str, Any] | None:
        outcomes = await self.task_logs.keep(_tasks(handles))
        results, error = await self._destroy_all(handles)
        return await self._finish(session_id, reason, results, error, outcomes)

    async def _current_stats(self, handles: list[KernelHandle]) -> dict[str, Any] | None:
        """The main kernel's counters now, in the shape ``rm -s`` prints; None if unknown."""
        for h in handles[:1]:
            try:
                stats = await self._agents.kernel_stats(h.addr, h.kernel_id)
            except (AgentError, InvalidRequest) as e:
                log.info("no stats of kernel %s from %s: %s", h.kernel_id, h.agent_id, e)
                return None
            return _stats([stats])
        return None

    async def _finish(
        self,
        session_id: uuid.UUID,
        reason: str,
        results: list[DestroyResult],
        error: str | None,
        outcomes: dict[uuid.UUID, TaskOutcome] | None = None,
    ) -> dict[str, Any] | None:
        async with self._db() as db, db.begin():
            s = await load_for_update(db, session_id)
            if s is not None and s.status is S.TERMINATING:
                await self._store_results(db, results)
                data = settle_result(s, (outcomes or {}).get(s.id))
                if error:
                    data["error"] = {"reason": "destroy-failed", "message": error}
                await transition(db, s, S.TERMINATED, reason=reason, data=data)
        self._on_release()
        return _stats(results)

    async def restart(self, session_id: uuid.UUID) -> None:
        async with self._db() as db, db.begin():
            s = await load_for_update(db, session_id)
            if s is None:
                raise SessionNotFound(f"No session {session_id}.")
            await transition(db, s, S.RESTARTING, reason="user-requested", data=self._lease.claim())
            handles = await kernel_handles(db, s.id)
        await self._restart_kernels(session_id, handles)

    async def _restart_kernels(self, session_id: uuid.UUID, handles: list[KernelHandle]) -> None:
        """Restart the RESTARTING session's kernels, then it is RUNNING again (or ERROR)."""
        restarted = []
        try:
            for h in handles:
                restarted.append(await self._agents.retrying(partial(self._restart, h)))
        except AgentError as e:
            await self.fail(session_id, "restart-failed", str(e))
            raise
        async with self._db() as db, db.begin():
            s = await load_for_update(db, session_id)
            if s is not None and s.status is S.RESTARTING:
                for info in restarted:
                    k = await db.get(Kernel, info.kernel_id) if info else None
                    if info is not None and k is not None:
                        k.service_ports = [p.model_dump(mode="json") for p in info.service_ports]
                await transition(db, s, S.RUNNING, reason="restarted")

    async def mark_failed(
        self,
        db: AsyncSession,
        s: Session,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> list[KernelHandle]:
        """Inside the caller's transaction: ``s`` becomes ERROR with ``reason`` as its status
        info and ``message`` in its status data. Returns the containers to clean up."""
        data = {"error": {"reason": reason, "message": message, **(details or {})}}
        await transition(db, s, S.ERROR, reason=reason, data=data)
        s.result = SessionResult.FAILURE
        self._on_release()
        return await kernel_handles(db, s.id)

    async def fail(self, session_id: uuid.UUID, reason: str, message: str) -> None:
        """End a session that has gone wrong, unless it already ended, and clean up."""
        async with self._db() as db, db.begin():
            s = await load_for_update(db, session_id)
            if s is None or s.status in FINAL_STATUSES or s.status is S.ERROR:
                return
            handles = await self.mark_failed(db, s, reason, message)
        await self.clean_up(handles)

    async def clean_up(self, handles: list[KernelHandle]) -> None:
        """Destroy the containers of failed kernels and keep their logs."""
        await self.task_logs.keep(_tasks(handles))
        results, _ = await self._destroy_all(handles)
        if results:
            async with self._db() as db, db.begin():
                await self._store_results(db, results)

    def clean_up_later(self, handles: list[KernelHandle]) -> None:
        if handles:
            self._spawn(self.clean_up(handles))

    async def _destroy_all(
        self, handles: list[KernelHandle]
    ) -> tuple[list[DestroyResult], str | None]:
        results: list[DestroyResult] = []
        error = None
        for h in handles:
            try:
                results.append(await self._agents.retrying(partial(self._destroy, h)))
            except AgentError as e:
                log.warning("could not destroy kernel %s on %s: %s", h.kernel_id, h.agent_id, e)
                error = str(e)
        return results, error

    async def _restart(self, h: KernelHandle) -> KernelCreated | None:
        return await self._agents.restart_kernel(h.addr, h.kernel_id)

    async def _destroy(self, h: KernelHandle) -> DestroyResult:
        return await self._agents.destroy_kernel(h.addr, h.kernel_id)

    async def resume(self) -> int:
        """At start: carry on what a previous run left half done (it was killed, say). A
        TERMINATING session's containers are destroyed and it ends; a RESTARTING one's kernels
        are restarted. Both go on in the background, retrying agents that do not answer yet
        (they may be starting too). PENDING, SCHEDULED and PREPARING sessions are the
        scheduler's: its first pass launches them again. Sessions that another manager, still
        running, is ending or restarting are left to it; the others are claimed, under their
        row lock, so that two managers starting at once do not both resume one. Returns how
        many were resumed."""
        resumable = (S.TERMINATING, S.RESTARTING)
        async with self._db() as db:
            ids = list(await db.scalars(sa.select(Session.id).where(Session.status.in_(resumable))))
        work = []
        for sid in ids:
            async with self._db() as db, db.begin():
                s = await load_for_update(db, sid)
                if s is None or s.status not in resumable:
                    continue
                if await self._lease.alive(db, self._lease.owner(s.status_data)):
                    continue
                s.status_data = self._lease.claim(s.status_data)
                work.append((sid, s.status, s.status_info, await kernel_handles(db, sid)))
        for session_id, status, info, handles in work:
            log.info("resuming %s session %s", status.value, session_id)
            if status is S.TERMINATING:
                reason = info or "user-requested"
                self._spawn(self._destroy_and_finish(session_id, reason, handles))
            else:
                self._spawn(self._resume_restart(session_id, handles))
        return len(work)

    async def _resume_restart(self, session_id: uuid.UUID, handles: list[KernelHandle]) -> None:
        with contextlib.suppress(AgentError):  # already recorded as the session's failure
            await self._restart_kernels(session_id, handles)

    @staticmethod
    async def _store_results(db: AsyncSession, results: list[DestroyResult]) -> None:
        for r in results:
            k = await db.get(Kernel, r.kernel_id)
            if k is None:
                continue
            if r.container_log is not None:
                k.container_log = r.container_log
            if r.last_stat is not None:
                k.last_stat = dict(r.last_stat)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self, grace: float = 10.0) -> None:
        """Let the destroys in progress finish (a session left TERMINATING would stay so),
        for at most ``grace`` seconds."""
        if self._background:
            _, pending = await asyncio.wait(list(self._background), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
