"""Watching the container engine for our containers that die on their own (exit, OOM kill).

Each such death becomes a ``KernelEvent`` for the manager. Deaths the agent caused itself
(destroy, restart, a failed create) are not news and are skipped. After the event stream
breaks (engine restart) or at start, a scan reports what died while nobody was watching.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from backendai.agent.backends.protocol import ContainerBackend, ContainerEvent, ContainerRecord
from backendai.agent.errors import ContainerNotFound
from backendai.agent.heartbeat import EVENTS_PATH, ManagerLink
from backendai.agent.kernels import KernelRegistry
from backendai.agent.layout import LABEL_POOL
from backendai.common.agent_protocol import (
    LABEL_AGENT_ID,
    ContainerState,
    KernelEvent,
    KernelEventKind,
)
from backendai.common.errors import PlatformError

log = logging.getLogger(__name__)

OOM_STOP_GRACE = 0.5  # seconds
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 15.0)  # then the heartbeat's container list must do


class ContainerMonitor:
    def __init__(self, registry: KernelRegistry, backend: ContainerBackend, link: ManagerLink):
        self.registry, self.backend, self.link = registry, backend, link
        self.agent_id = registry.settings.id
        self.reported: set[tuple[str, str]] = set()  # (container id, start time) already told
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        while True:
            try:
                stream = self.backend.events({LABEL_AGENT_ID: self.agent_id})
                await self.scan()
                async for event in stream:
                    await self.handle(event)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("watching containers failed (%s); retrying", e)
            await asyncio.sleep(1.0)

    async def scan(self) -> None:
        for kernel in list(self.registry.kernels.values()):
            try:
                record = await self.backend.inspect(kernel.container_id)
            except ContainerNotFound:
                continue
            if record.state in (ContainerState.EXITED, ContainerState.DEAD):
                self.report(record)

    async def handle(self, event: ContainerEvent) -> None:
        if event.action == "oom":
            # The kernel reached its memory limit. Its interpreter's state is gone and the
            # limit is what the user asked for, so the session ends as ERROR (oom-killed)
            # rather than limping on: the kill makes the container die with OOMKilled set,
            # and its death is reported below like any other.
            await self._end_after_oom(event.container_id)
            return
        try:
            record = await self.backend.inspect(event.container_id)
        except (ContainerNotFound, PlatformError):
            return  # removed already: destroyed by us
        if record.state not in (ContainerState.EXITED, ContainerState.DEAD):
            return  # restarted meanwhile
        self.report(record)

    async def _end_after_oom(self, container_id: str) -> None:
        try:
            record = await self.backend.inspect(container_id)
        except (ContainerNotFound, PlatformError):
            return
        kernel_id = self.registry.kernel_id_of(record.id, record.labels)
        if kernel_id is None or kernel_id not in self.registry.kernels:
            return
        if kernel_id in self.registry.quiet:
            return
        log.warning("kernel %s ran out of memory: ending it", kernel_id)
        # Docker may not flag a container OOMKilled when its main process was not the victim.
        self.registry.kernels[kernel_id].out_of_memory = True
        self._spawn(self._stop_after_grace(container_id))

    async def _stop_after_grace(self, container_id: str) -> None:
        # A moment for the runner to tell a waiting client why its code died.
        await asyncio.sleep(OOM_STOP_GRACE)
        with contextlib.suppress(ContainerNotFound, PlatformError):
            await self.backend.stop(container_id, grace=0)

    def report(self, record: ContainerRecord) -> None:
        kernel_id = self.registry.kernel_id_of(record.id, record.labels)
        if kernel_id is None:
            if LABEL_POOL in record.labels:  # an idle warm pool container died: replace it
                self.registry.pool.forget(record.id)
            return
        kernel = self.registry.kernels.get(kernel_id)
        key = (record.id, str(record.started_at))
        if kernel is None or kernel_id in self.registry.quiet or key in self.reported:
            return
        self.reported.add(key)
        oom = kernel.out_of_memory or (record.oom_killed and record.exit_code in (None, 137))
        if oom:
            message = f"The kernel's memory limit is {kernel.memory_limit(record.memory)}."
        else:
            message = f"The kernel's main process exited with code {record.exit_code}."
        event = KernelEvent(
            agent_id=self.agent_id,
            kernel_id=kernel_id,
            kind=KernelEventKind.TERMINATED,
            reason="oom-killed" if oom else "self-terminated",
            exit_code=record.exit_code,
            message=message,
        )
        log.warning("kernel %s terminated: %s %s", kernel_id, event.reason, message)
        self._spawn(self._send(event))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, event: KernelEvent) -> None:
        for delay in (0.0, *RETRY_DELAYS):
            await asyncio.sleep(delay)
            if await self.link.post(EVENTS_PATH, event):
                return
