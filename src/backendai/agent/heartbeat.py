"""Reporting to the manager: a heartbeat every few seconds, and kernel events as they happen.

The manager may be down or restarting: a report that fails is logged (once, not on every
attempt) and the loop goes on; the next heartbeat carries the whole state again anyway (a
batch task's exit code included, in its kernel's ``ContainerInfo``). Batch tasks' end events
are posted as they come (``forward_task_events``), with a few retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform

import aiohttp
from pydantic import BaseModel

from backendai import __version__
from backendai.agent.backends.protocol import ContainerBackend
from backendai.agent.batch_tasks import BatchTasks
from backendai.agent.kernels import KernelRegistry
from backendai.agent.resources import Capacity
from backendai.agent.settings import AgentSettings
from backendai.common.agent_protocol import AGENT_TOKEN_HEADER, AgentHeartbeat, ImageInfo

log = logging.getLogger(__name__)

HEARTBEAT_PATH = "/internal/agents/heartbeat"
EVENTS_PATH = "/internal/agents/events"
IMAGES_TTL = 30.0  # seconds between image listings (they change rarely)
EVENT_RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 15.0)  # then the heartbeats' task exit codes must do


class ManagerLink:
    def __init__(self, settings: AgentSettings) -> None:
        self.base = (settings.manager_url or "").rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(total=10)
        self._token = settings.token
        self.healthy = True

    async def post(self, path: str, payload: BaseModel) -> bool:
        """Whether the manager took it; failures are logged, never raised."""
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={AGENT_TOKEN_HEADER: self._token})
        try:
            async with self._session.post(
                self.base + path,
                data=payload.model_dump_json(),
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
            ) as response:
                if response.status >= 400:
                    detail = (await response.text())[:300]
                    raise aiohttp.ClientResponseError(
                        response.request_info, (), status=response.status, message=detail
                    )
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            if self.healthy:
                log.warning("the manager at %s did not take %s: %s", self.base, path, e)
            self.healthy = False
            return False
        if not self.healthy:
            log.info("the manager at %s is reachable again", self.base)
        self.healthy = True
        return True

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def build_heartbeat(
    settings: AgentSettings,
    registry: KernelRegistry,
    capacity: Capacity,
    images: list[ImageInfo],
) -> AgentHeartbeat:
    return AgentHeartbeat(
        agent_id=settings.id,
        addr=settings.addr,
        region=settings.region,
        scaling_group=settings.scaling_group,
        version=__version__,
        architecture=platform.machine(),
        available_slots=registry.devices.available_slots(),
        compute_plugins=registry.devices.reports(),
        containers=await registry.container_infos(),
        images=images,
    )


async def heartbeat_loop(
    settings: AgentSettings,
    registry: KernelRegistry,
    backend: ContainerBackend,
    capacity: Capacity,
    link: ManagerLink,
) -> None:
    loop = asyncio.get_running_loop()
    images: list[ImageInfo] = []
    images_at = -IMAGES_TTL
    forwarder = asyncio.create_task(forward_task_events(registry.tasks, link))
    try:
        while True:
            try:
                if loop.time() - images_at >= IMAGES_TTL:
                    images, images_at = await backend.images(), loop.time()
                await link.post(
                    HEARTBEAT_PATH, await build_heartbeat(settings, registry, capacity, images)
                )
            except Exception:  # the engine hiccuped: try again next time
                log.exception("could not build a heartbeat")
            await asyncio.sleep(settings.heartbeat_interval)
    finally:
        forwarder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forwarder


async def forward_task_events(tasks: BatchTasks, link: ManagerLink) -> None:
    """Post each batch task's end to the manager, retrying a few times while it is away."""
    while True:
        event = await tasks.events.get()
        for delay in (0.0, *EVENT_RETRY_DELAYS):
            await asyncio.sleep(delay)
            if await link.post(EVENTS_PATH, event):
                break
