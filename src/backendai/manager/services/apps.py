"""The apps inside a session (web terminal, sshd, Jupyter, ...), reached through its agent.

The agent knows what each app allows and whether it runs (``AGENT_APPS``); when it cannot say
(down, or too old to have the app routes), the apps stored at the kernel's start are listed
instead, so that ``backend.ai apps`` still answers. Starting an app is the agent's work; the
manager checks what a user passes first (``check_app_request``), so that a request the agent
would refuse anyway never travels there, and announces what it started or stopped as session
events (``app_started`` / ``app_stopped``, the app's name as their reason).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

import aiohttp
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.app_protocol import (
    MAX_APP_ARGUMENTS,
    MAX_APP_ENVS,
    MAX_APP_VALUE_LENGTH,
    AppInfo,
    AppStarted,
    AppStartRequest,
    AppStopped,
)
from backendai.common.errors import AgentError, AppNotFound, InvalidRequest
from backendai.common.statuses import SessionStatus
from backendai.manager.agent_client import AgentClient
from backendai.manager.db.models import Session
from backendai.manager.events import EventBus, EventName, SessionEvent
from backendai.manager.services.kernel_access import KernelAccess, KernelTarget
from backendai.manager.services.sessions import main_kernel, service_ports_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppListing:
    apps: list[AppInfo]
    live: bool  # from the agent now; False: the ports stored when the kernel started


def check_app_request(req: AppStartRequest) -> None:
    """The bounds on what a user may pass to an app (the agent checks them too)."""
    if len(req.arguments) > MAX_APP_ARGUMENTS:
        raise InvalidRequest(f"Too many app arguments: at most {MAX_APP_ARGUMENTS}.")
    if len(req.envs) > MAX_APP_ENVS:
        raise InvalidRequest(f"Too many app environment variables: at most {MAX_APP_ENVS}.")
    texts: list[str] = [*req.arguments, *req.envs, *req.envs.values()]
    for value in req.arguments.values():
        texts.extend([value] if isinstance(value, str) else value or [])
    for text in texts:
        if len(text) > MAX_APP_VALUE_LENGTH:
            raise InvalidRequest(
                f"An app argument or environment value is too long: at most "
                f"{MAX_APP_VALUE_LENGTH} characters ({text[:40]!r}...)."
            )


def _stored(ports: list[dict[str, object]]) -> list[AppInfo]:
    apps = []
    for port in ports:
        try:
            apps.append(AppInfo.model_validate(port))
        except ValidationError:  # a label with a protocol we do not know: not an app to offer
            log.info("leaving out the stored service port %r", port)
    return apps


class AppService:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        agents: AgentClient,
        kernels: KernelAccess,
        bus: EventBus,
    ) -> None:
        self._db = db
        self._agents = agents
        self._kernels = kernels
        self._bus = bus

    async def list(self, s: Session) -> AppListing:
        async with self._db() as db:
            k = await main_kernel(db, s.id)
        stored = _stored(service_ports_of(k))
        if s.status is not SessionStatus.RUNNING or k is None or k.agent_addr is None:
            return AppListing(stored, live=False)
        try:
            return AppListing(await self._agents.list_apps(k.agent_addr, k.id), live=True)
        except (AgentError, InvalidRequest, ValidationError) as e:
            log.info("apps of kernel %s from its stored ports: the agent said %s", k.id, e)
            return AppListing(stored, live=False)

    async def find(self, s: Session, app: str) -> tuple[KernelTarget, AppInfo]:
        """The running session's main kernel and its app ``app`` (else ``AppNotFound``)."""
        target = await self._kernels.target(s)
        for info in (await self.list(s)).apps:
            if info.name == app:
                return target, info
        raise AppNotFound(f"The session {s.name} has no app {app!r}.")

    async def start(
        self, s: Session, target: KernelTarget, app: str, req: AppStartRequest
    ) -> AppStarted:
        """Start ``app`` unless it runs; answers once it accepts connections."""
        check_app_request(req)
        started = await self._agents.retrying(
            partial(self._agents.start_app, target.addr, target.kernel_id, app, req)
        )
        if started.started:
            self._announce(s, EventName.APP_STARTED, app)
        return started

    async def stop(self, s: Session, target: KernelTarget, app: str) -> AppStopped:
        stopped = await self._agents.stop_app(target.addr, target.kernel_id, app)
        if stopped.stopped:
            self._announce(s, EventName.APP_STOPPED, app)
        return stopped

    async def tunnel(
        self, target: KernelTarget, app: str, req: AppStartRequest
    ) -> aiohttp.ClientWebSocketResponse:
        """A fresh connection to the app, as the agent's tunnel WebSocket; the caller closes it."""
        return await self._agents.retrying(
            partial(self._agents.connect_app_tunnel, target.addr, target.kernel_id, app, req)
        )

    def _announce(self, s: Session, name: EventName, app: str) -> None:
        self._bus.publish(
            SessionEvent(
                name=name,
                session_id=s.id,
                session_name=s.name,
                owner_access_key=s.access_key,
                group_id=s.group_id,
                reason=app,
            )
        )
