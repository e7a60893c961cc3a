"""When scheduling passes run: on demand (a session enqueued, resources freed, an agent
reporting) and periodically; and the kernel launches that follow a pass.

Passes never overlap inside one manager; several managers are kept apart by the applier's row
locks, and each session is launched by the one manager that claims it (see ``launcher``).
Sessions left SCHEDULED or PREPARING without a launch in progress (a manager restart, a crashed
launch) are launched again on the next pass.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.manager.background import Periodic
from backendai.manager.db.meta import utcnow
from backendai.manager.scheduler.applier import apply_plan
from backendai.manager.scheduler.launcher import KernelLauncher
from backendai.manager.scheduler.policy import SchedulingPolicy, fifo_first_fit
from backendai.manager.scheduler.snapshot import load_snapshot

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        launcher: KernelLauncher,
        interval: float,
        policy: SchedulingPolicy = fifo_first_fit,
    ) -> None:
        self._db = db
        self._launcher = launcher
        self._policy = policy
        self._loop = Periodic("scheduler", self.run_pass, interval)
        self._pass_lock = asyncio.Lock()
        self._launching: dict[uuid.UUID, asyncio.Task[None]] = {}

    def trigger(self) -> None:
        """Ask for a pass soon; many triggers before it runs make one pass."""
        self._loop.trigger()

    def start(self) -> None:
        """Run passes in the background: now (to resume what a previous run left), then on
        every trigger and at least every interval."""
        self._loop.start(at_once=True)

    async def run_pass(self) -> list[uuid.UUID]:
        """One pass: decide over a fresh snapshot, commit, launch. Returns the sessions
        scheduled by this pass."""
        async with self._pass_lock:
            async with self._db() as db:
                snapshot = await load_snapshot(db, utcnow())
            plan = self._policy(snapshot) if snapshot.pending else None
            scheduled = await apply_plan(self._db, plan) if plan else []
            async with self._db() as db:
                launchable = await self._launcher.launchable(db)
            for session_id in launchable:
                if session_id not in self._launching:
                    self._start_launch(session_id)
            return scheduled

    def _start_launch(self, session_id: uuid.UUID) -> None:
        task = asyncio.create_task(self._launch(session_id), name=f"launch-{session_id}")
        self._launching[session_id] = task

    async def _launch(self, session_id: uuid.UUID) -> None:
        try:
            await self._launcher.launch(session_id)
        except Exception:
            log.exception("launching session %s failed unexpectedly", session_id)
        finally:
            self._launching.pop(session_id, None)

    async def wait_launches(self) -> None:
        """For tests and shutdown: wait until no launch is in progress."""
        while self._launching:
            await asyncio.gather(*self._launching.values(), return_exceptions=True)

    async def close(self, grace: float = 10.0) -> None:
        await self._loop.stop(grace)
        tasks = list(self._launching.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
