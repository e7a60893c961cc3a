"""Starting a scheduled session's kernel on its agent: SCHEDULED -> PREPARING -> RUNNING.

The agent's create call is idempotent (keyed by kernel id), so a launch that is retried after a
manager restart does no harm, and an agent that does not answer (it may be restarting too) is
asked again for ``agent_retry_window`` seconds. When the agent fails, the session becomes ERROR
with the agent's reason and the container is destroyed; when the session was terminated while
its container was being created, the new container is destroyed at once.

Several managers may pass over the same SCHEDULED session: the one whose transaction turns it
PREPARING, under the session's row lock, claims it (``ManagerLease``) and is the only one that
launches it. A PREPARING session is launched again only when the manager that claimed it is
gone (or it is this one and no launch is in progress), and that re-claim happens under the
same lock.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.agent_protocol import (
    DotfileSpec,
    KernelCreated,
    KernelCreateRequest,
    VFolderMount,
)
from backendai.common.batch_tasks import BatchTask
from backendai.common.errors import AgentError, InvalidRequest
from backendai.common.statuses import SessionStatus as S
from backendai.common.statuses import SessionType
from backendai.manager.agent_client import AgentClient
from backendai.manager.db.liveness import ManagerLease
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import Kernel, Session
from backendai.manager.lifecycle import load_for_update, transition
from backendai.manager.scheduler.outcomes import KernelHandle, LaunchOutcomes

log = logging.getLogger(__name__)

LAUNCHABLE = frozenset({S.SCHEDULED, S.PREPARING, S.PULLING})


def _request(s: Session, k: Kernel, dotfiles: list[DotfileSpec]) -> KernelCreateRequest:
    return KernelCreateRequest(
        kernel_id=k.id,
        session_id=s.id,
        session_name=s.name,
        session_type="batch" if s.session_type is SessionType.BATCH else "interactive",
        image=k.image,
        slots=dict(k.occupied_slots),
        resource_opts={key: str(v) for key, v in s.resource_opts.items()},
        environ=dict(s.environ),
        bootstrap_script=s.bootstrap_script,
        startup_command=s.startup_command,
        task=task_of(s),
        preopen_ports=[int(p) for p in k.preopen_ports],
        dotfiles=dotfiles,
        vfolders=_vfolders(s.vfolder_mounts),
    )


def task_of(s: Session) -> BatchTask | None:
    """A batch session's task: the stored one (sweeps, ``run --type batch``), else its
    startup command as a shell command (``start --type batch -c``, Backend.AI's client)."""
    if s.session_type is not SessionType.BATCH:
        return None
    if s.task:
        return BatchTask.model_validate(s.task)
    return BatchTask.shell(s.startup_command) if s.startup_command else None


def _vfolders(stored: list[Any]) -> list[VFolderMount]:
    """The session's folders (``services.vfolder_mounts``); older rows hold plain names,
    which say nothing the agent could mount: skipped."""
    return [VFolderMount.model_validate(m) for m in stored or [] if isinstance(m, dict)]


class KernelLauncher:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        agents: AgentClient,
        outcomes: LaunchOutcomes,
        lease: ManagerLease | None = None,
    ) -> None:
        self._db = db
        self._agents = agents
        self._outcomes = outcomes
        self._lease = lease or ManagerLease(None)

    async def launchable(self, db: AsyncSession) -> list[uuid.UUID]:
        """Sessions this manager may launch: SCHEDULED ones, and those left PREPARING or
        PULLING by a manager that is gone (or by this one)."""
        await self._lease.refresh()
        rows = (
            await db.execute(
                sa.select(Session.id, Session.status, Session.status_data).where(
                    Session.status.in_(LAUNCHABLE)
                )
            )
        ).all()
        owners = {self._lease.owner(data) for _, status, data in rows if status is not S.SCHEDULED}
        alive = {o for o in owners if o != self._lease.id and await self._lease.alive(db, o)}
        return [
            sid
            for sid, status, data in rows
            if status is S.SCHEDULED or self._lease.owner(data) not in alive
        ]

    async def launch(self, session_id: uuid.UUID) -> None:
        async with self._db() as db, db.begin():
            s = await load_for_update(db, session_id)
            if s is None or s.status not in LAUNCHABLE:
                return
            if s.status is S.SCHEDULED:
                await transition(db, s, S.PREPARING, reason="preparing", data=self._lease.claim())
            else:
                owner = self._lease.owner(s.status_data)
                if owner != self._lease.id and await self._lease.alive(db, owner):
                    return  # another manager is launching it
                s.status_data = self._lease.claim(s.status_data)
            kernels = list(await db.scalars(sa.select(Kernel).where(Kernel.session_id == s.id)))
            dotfiles = await self._outcomes.dotfiles(db, s)
            user = s.user_uuid
            jobs = [(KernelHandle(k.id, k.agent, k.agent_addr), _request(s, k, dotfiles))
                    for k in kernels if k.agent and k.agent_addr]  # fmt: skip
        created: list[tuple[KernelHandle, KernelCreated]] = []
        for handle, req in jobs:
            try:
                created.append((handle, await self._create(handle, req)))
            except (AgentError, InvalidRequest) as e:
                log.warning("starting kernel %s on %s failed: %s", handle.kernel_id,
                            handle.agent_id, e)  # fmt: skip
                await self._outcomes.failed_to_start(
                    session_id, user, handle.agent_id,
                    f"The agent {handle.agent_id} could not start the container of kernel "
                    f"{handle.kernel_id}: {e.msg or e}",
                )  # fmt: skip
                return
        await self._started(session_id, created)

    async def _create(self, handle: KernelHandle, req: KernelCreateRequest) -> KernelCreated:
        """The agent's create is idempotent per kernel id: after a restart of the manager (or
        of the agent) it is simply asked again until it answers."""
        return await self._agents.retrying(lambda: self._agents.create_kernel(handle.addr, req))

    async def _started(
        self, session_id: uuid.UUID, created: list[tuple[KernelHandle, KernelCreated]]
    ) -> None:
        async with self._db() as db, db.begin():
            s = await load_for_update(db, session_id)
            if s is None or s.status not in LAUNCHABLE:
                gone = True  # terminated while the containers were being created
            else:
                gone = False
                for _, info in created:
                    k = await db.get_one(Kernel, info.kernel_id)
                    k.container_id = info.container_id
                    k.service_ports = [p.model_dump(mode="json") for p in info.service_ports]
                    k.occupied_slots = dict(info.occupied_slots) or k.occupied_slots
                    k.attached_devices = dict(info.attached_devices)
                    if k.cluster_role == "main":
                        s.occupying_slots = k.occupied_slots
                s.last_activity = utcnow()
                await transition(db, s, S.RUNNING, reason="kernel-started", info="")
        if gone:
            await self._outcomes.clean_up([h for h, _ in created])
