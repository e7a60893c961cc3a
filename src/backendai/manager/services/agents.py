"""The agents registry: heartbeats, reconciliation, kernel events and lost agents.

Every heartbeat upserts the agent (ALIVE, its capacity, address and images), registers its
session images, and reconciles both ways what the agent runs with what the database says:

* a container whose kernel the database does not know, or knows as ended, is destroyed;
* a kernel the database has RUNNING on the agent but the heartbeat lacks (after a grace
  period, since the heartbeat may predate the start) ends its session as ERROR ("the container
  vanished"); one whose container exited ends the same way, with the exit code or OOM kill;
* a batch kernel whose task ended (``task_exit_code``) ends its session with the task's result,
  should the agent's ``TASK_FINISHED`` event have been missed (``services.batch_tasks``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.agent_protocol import (
    AgentHeartbeat,
    ContainerInfo,
    ContainerState,
    KernelEvent,
    KernelEventKind,
)
from backendai.common.errors import InvalidRequest
from backendai.common.slots import ResourceSlot, format_amount
from backendai.common.statuses import AgentStatus, SessionType
from backendai.common.statuses import SessionStatus as S
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import Agent, Kernel, ScalingGroup
from backendai.manager.lifecycle import LIVE_STATUSES, load_for_update
from backendai.manager.scheduler.outcomes import KernelHandle
from backendai.manager.scheduler.snapshot import occupancy
from backendai.manager.services import images
from backendai.manager.services.batch_tasks import TASK_FINISHED, TASK_LIVE, BatchTasks
from backendai.manager.services.session_control import SessionControl

log = logging.getLogger(__name__)

_WATCHED = frozenset({S.RUNNING})  # kernels whose container must be in every heartbeat
_ENDED_CONTAINER = frozenset({ContainerState.EXITED, ContainerState.DEAD})


def exit_failure(
    kernel: Kernel, reason: str, exit_code: int | None, message: str = ""
) -> tuple[str, str]:
    """(reason, message) for a container that ended on its own; ``message`` is the agent's."""
    if reason == "oom-killed":
        limit = kernel.occupied_slots.get("mem")
        if not limit:
            return "oom-killed", f"The container ran out of memory and was killed. {message}"
        shown = format_amount("mem", ResourceSlot.from_json({"mem": limit})["mem"])
        return "oom-killed", (
            f"The container ran out of memory and was killed (memory limit: {shown}). "
            "Ask for more with -r mem=..., or use less memory."
        )
    code = "unknown" if exit_code is None else str(exit_code)
    return reason or "self-terminated", message or (
        f"The container exited on its own (exit code {code})."
    )


@dataclass
class _Ends:
    """What a transaction decided to end, to be done once it committed."""

    cleanups: list[KernelHandle] = field(default_factory=list)  # failed: destroy
    finishing: dict[uuid.UUID, tuple[str, list[KernelHandle]]] = field(default_factory=dict)


class AgentRegistry:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        control: SessionControl,
        *,
        lost_timeout: float,
        vanish_grace: float,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._control = control
        self._lost_timeout = timedelta(seconds=lost_timeout)
        self._vanish_grace = timedelta(seconds=vanish_grace)
        self._on_change = on_change
        self._destroying: set[uuid.UUID] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._batch = BatchTasks(db, control)

    async def heartbeat(self, hb: AgentHeartbeat, now: datetime | None = None) -> None:
        now = now or utcnow()
        ends = _Ends()
        async with self._db() as db, db.begin():
            agent = await self._upsert(db, hb, now)
            await self._tasks_ended(db, agent, hb.containers, ends)  # before: a result wins
            orphans = await self._reconcile(db, agent, hb.containers, now, ends)
            used = (await occupancy(db, [agent.id]))[agent.id]
            agent.occupied_slots = used.to_json()
        self._control.clean_up_later(ends.cleanups)
        self._finish(ends)
        for kernel_id in orphans:
            self._destroy_orphan(KernelHandle(kernel_id, hb.agent_id, hb.addr))
        self._on_change()

    async def _upsert(self, db: AsyncSession, hb: AgentHeartbeat, now: datetime) -> Agent:
        if await db.get(ScalingGroup, hb.scaling_group) is None:
            raise InvalidRequest(
                f"The agent {hb.agent_id} reports the resource group {hb.scaling_group!r}, "
                "which does not exist; create it or configure the agent with another one."
            )
        capacity = ResourceSlot.from_json(hb.available_slots).to_json()
        image_names = await images.register(db, hb.images, hb.architecture)
        agent = await db.get(Agent, hb.agent_id)
        if agent is None:
            agent = Agent(id=hb.agent_id, status=AgentStatus.ALIVE, first_contact=now)
            db.add(agent)
            log.info("agent %s joined at %s", hb.agent_id, hb.addr)
        elif agent.status is not AgentStatus.ALIVE:
            log.info("agent %s is back (was %s)", hb.agent_id, agent.status.value)
        if agent.status is not AgentStatus.ALIVE or agent.status_changed is None:
            agent.status, agent.status_changed, agent.lost_at = AgentStatus.ALIVE, now, None
        agent.addr, agent.region, agent.scaling_group = hb.addr, hb.region, hb.scaling_group
        agent.version, agent.architecture, agent.last_heartbeat = hb.version, hb.architecture, now
        if agent.available_slots != capacity:
            agent.available_slots = capacity
        plugins = {k: r.model_dump(mode="json") for k, r in hb.compute_plugins.items()}
        if agent.compute_plugins != plugins:
            agent.compute_plugins = plugins
        if agent.images != image_names:
            agent.images = image_names
        await db.flush()
        return agent

    def _finish(self, ends: _Ends) -> None:
        for session_id, (reason, handles) in ends.finishing.items():
            self._batch.finish(session_id, reason, handles)

    async def _reconcile(
        self,
        db: AsyncSession,
        agent: Agent,
        containers: list[ContainerInfo],
        now: datetime,
        ends: _Ends,
    ) -> list[uuid.UUID]:
        reported = {c.kernel_id: c for c in containers}
        live: dict[uuid.UUID, Kernel] = {
            k.id: k
            for k in await db.scalars(
                sa.select(Kernel).where(Kernel.agent == agent.id, Kernel.status.in_(LIVE_STATUSES))
            )
        }
        orphans = [
            kid for kid in reported if kid not in live or live[kid].status is S.ERROR
        ]  # a kernel that ended (or never was ours) but still has a container
        for kid, k in live.items():
            if (c := reported.get(kid)) is not None and c.stat and k.status is S.RUNNING:
                k.last_stat = c.stat  # what the sessions' lists show as used, live
            if k.status not in _WATCHED or k.status_changed > now - self._vanish_grace:
                continue
            c = reported.get(kid)
            if c is None:
                reason, message = (
                    "vanished",
                    (f"The container vanished: the agent {agent.id} no longer has it."),
                )
            elif c.state in _ENDED_CONTAINER:
                reason, message = exit_failure(
                    k, "oom-killed" if c.oom_killed else "self-terminated", c.exit_code
                )
            else:
                continue
            await self._fail(db, ends, k.session_id, reason, message, c)
        return orphans

    async def _tasks_ended(
        self, db: AsyncSession, agent: Agent, containers: list[ContainerInfo], ends: _Ends
    ) -> None:
        """Batch sessions on this agent whose task the heartbeat says ended, claimed here
        (the event may have been lost), to be ended after the commit."""
        ended = {c.kernel_id: c.task_exit_code for c in containers if c.task_exit_code is not None}
        if not ended:
            return
        kernels = await db.execute(
            sa.select(Kernel.id, Kernel.session_id).where(
                Kernel.id.in_(list(ended)),
                Kernel.agent == agent.id,
                Kernel.cluster_role == "main",
                Kernel.status.in_(TASK_LIVE),
            )
        )
        for kid, sid in kernels.all():
            handles = await self._batch.claim(db, sid, ended[kid])
            if handles is not None:
                ends.finishing[sid] = (TASK_FINISHED, handles)

    async def _fail(
        self,
        db: AsyncSession,
        ends: _Ends,
        session_id: uuid.UUID,
        reason: str,
        message: str,
        container: ContainerInfo | None,
    ) -> None:
        s = await load_for_update(db, session_id)
        if s is None or s.status not in (S.RUNNING, S.RESTARTING, S.PREPARING, S.PULLING):
            return
        details: dict[str, Any] = {}
        if container is not None:
            details = {"exit_code": container.exit_code, "oom_killed": container.oom_killed}
        exit_code = details.get("exit_code")
        if s.session_type is SessionType.BATCH and reason == "self-terminated" and exit_code == 0:
            # A batch container that ended on its own, well: the same as a task that did.
            handles = await self._batch.claim(db, s.id, 0, reason="batch-finished")
            if handles is not None:
                ends.finishing[s.id] = ("batch-finished", handles)
            return
        log.warning("session %s failed: %s", session_id, message)
        ends.cleanups += await self._control.mark_failed(db, s, reason, message, details)

    async def kernel_event(self, ev: KernelEvent) -> None:
        """An agent saw a container end on its own (exit, OOM kill), or a batch task end."""
        if ev.kind is KernelEventKind.TASK_FINISHED:
            await self._batch.task_finished(ev)
            return
        ends = _Ends()
        async with self._db() as db, db.begin():
            k = await db.get(Kernel, ev.kernel_id)
            if k is None or k.agent != ev.agent_id:
                return
            reason, message = exit_failure(k, ev.reason, ev.exit_code, ev.message)
            container = ContainerInfo(
                kernel_id=k.id,
                session_id=k.session_id,
                container_id=k.container_id or "",
                state=ContainerState.EXITED,
                exit_code=ev.exit_code,
                oom_killed=ev.reason == "oom-killed",
            )
            await self._fail(db, ends, k.session_id, reason, message, container)
        self._finish(ends)
        await self._control.clean_up(ends.cleanups)

    async def mark_lost(self, now: datetime | None = None) -> list[str]:
        """Agents silent for longer than the timeout become LOST (no new sessions go there)."""
        now = now or utcnow()
        async with self._db() as db, db.begin():
            agents = list(
                await db.scalars(
                    sa.select(Agent).where(
                        Agent.status == AgentStatus.ALIVE,
                        Agent.last_heartbeat < now - self._lost_timeout,
                    )
                )
            )
            for agent in agents:
                agent.status, agent.status_changed, agent.lost_at = AgentStatus.LOST, now, now
                log.warning("agent %s is lost: no heartbeat since %s", agent.id,
                            agent.last_heartbeat)  # fmt: skip
        return [a.id for a in agents]

    @property
    def lost_check_interval(self) -> float:
        return max(self._lost_timeout.total_seconds() / 3, 0.05)

    def _destroy_orphan(self, handle: KernelHandle) -> None:
        if handle.kernel_id in self._destroying:
            return
        self._destroying.add(handle.kernel_id)

        async def destroy() -> None:
            try:
                log.info("destroying orphan container of kernel %s on %s",
                         handle.kernel_id, handle.agent_id)  # fmt: skip
                await self._control.clean_up([handle])
            finally:
                self._destroying.discard(handle.kernel_id)

        task = asyncio.create_task(destroy())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)
