"""API sessions: :class:`AsyncSession` (coroutines) and :class:`Session` (blocking calls).

Both expose the same function groups as attributes::

    with Session() as session:                      # reads BACKEND_* variables
        print(session.KeyPair.info())
        for item in session.ComputeSession.paginated_list():
            print(item["name"])

    async with AsyncSession() as session:
        print(await session.KeyPair.info())

Opening a session probes ``GET /`` (unsigned) to negotiate the API version: the lower of
the server's and the client's. A probe that fails falls back to the client's version.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp

from backendai.client import local_state
from backendai.client.config import APIConfig, format_api_version, parse_api_version
from backendai.client.exceptions import APIVersionWarning, BackendError
from backendai.client.func.admin import Admin
from backendai.client.func.agent import Agent
from backendai.client.func.auth import Auth
from backendai.client.func.batch import Batch
from backendai.client.func.binding import AsyncMode, SyncMode
from backendai.client.func.compute_session import ComputeSession
from backendai.client.func.domain import Domain
from backendai.client.func.dotfile import Dotfile
from backendai.client.func.editions import Editions
from backendai.client.func.etcd import EtcdConfig
from backendai.client.func.group import Group
from backendai.client.func.image import Image
from backendai.client.func.keypair import KeyPair
from backendai.client.func.manager import Manager
from backendai.client.func.resource import Resource, Scheduler
from backendai.client.func.resource_policy import KeypairResourcePolicy
from backendai.client.func.scaling_group import ScalingGroup
from backendai.client.func.server_log import ServerLog
from backendai.client.func.session_template import SessionTemplate
from backendai.client.func.storage import Storage
from backendai.client.func.system import System
from backendai.client.func.user import User
from backendai.client.func.vfolder import VFolder
from backendai.client.request import build_url
from backendai.client.worker import EventLoopThread

__all__ = ["AsyncSession", "Session"]

AnnouncementHandler = Callable[[str], None]


class AsyncSession:
    """A client session whose API functions are coroutines.

    ``on_announcement`` is called with the server's announcement message, if one is
    enabled, when the session opens. ``state_dir`` is where session mode keeps its login.
    """

    def __init__(
        self,
        *,
        config: APIConfig | None = None,
        on_announcement: AnnouncementHandler | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.config: APIConfig = config if config is not None else APIConfig.from_env()
        self.api_version: tuple[int, str] = self.config.api_version
        self.state_dir = state_dir
        self._on_announcement = on_announcement
        self._endpoint_index = 0
        self._http: aiohttp.ClientSession | None = None
        self._login: local_state.LoginState | None = None
        if self.config.endpoint_type == "session":
            self._login = local_state.load(state_dir)
        self.System: System[AsyncMode] = System(self)
        self.Manager: Manager[AsyncMode] = Manager(self)
        self.Dotfile: Dotfile[AsyncMode] = Dotfile(self)
        self.ServerLog: ServerLog[AsyncMode] = ServerLog(self)
        self.EtcdConfig: EtcdConfig[AsyncMode] = EtcdConfig(self)
        self.Editions: Editions[AsyncMode] = Editions(self)
        self.Admin: Admin[AsyncMode] = Admin(self)
        self.Auth: Auth[AsyncMode] = Auth(self)
        self.KeyPair: KeyPair[AsyncMode] = KeyPair(self)
        self.User: User[AsyncMode] = User(self)
        self.Domain: Domain[AsyncMode] = Domain(self)
        self.Group: Group[AsyncMode] = Group(self)
        self.Image: Image[AsyncMode] = Image(self)
        self.ComputeSession: ComputeSession[AsyncMode] = ComputeSession(self)
        self.Kernel = self.ComputeSession  # the name in Backend.AI's older SDKs
        self.KeypairResourcePolicy: KeypairResourcePolicy[AsyncMode] = KeypairResourcePolicy(self)
        self.ScalingGroup: ScalingGroup[AsyncMode] = ScalingGroup(self)
        self.Agent: Agent[AsyncMode] = Agent(self)
        self.Resource: Resource[AsyncMode] = Resource(self)
        self.Storage: Storage[AsyncMode] = Storage(self)
        self.Scheduler: Scheduler[AsyncMode] = Scheduler(self)
        self.VFolder: VFolder[AsyncMode] = VFolder(self)
        self.SessionTemplate: SessionTemplate[AsyncMode] = SessionTemplate(self)
        self.Batch: Batch[AsyncMode] = Batch(self)

    @property
    def http(self) -> aiohttp.ClientSession:
        """The underlying aiohttp session (created on first use, inside the running loop)."""
        if self._http is None:
            jar: aiohttp.abc.AbstractCookieJar
            if self.config.endpoint_type == "session":
                jar = aiohttp.CookieJar(unsafe=True)
                if self._login is not None:
                    # Saved without a domain: sent to whichever endpoint is configured.
                    jar.update_cookies(self._login.cookies)
            else:
                jar = aiohttp.DummyCookieJar()
            connector = aiohttp.TCPConnector(ssl=not self.config.skip_sslcert_validation)
            self._http = aiohttp.ClientSession(connector=connector, cookie_jar=jar)
        return self._http

    @property
    def current_endpoint(self) -> str:
        return self.config.endpoints[self._endpoint_index]

    def rotate_endpoint(self) -> None:
        """Fail over to the next configured endpoint."""
        self._endpoint_index = (self._endpoint_index + 1) % len(self.config.endpoints)

    @property
    def login_state(self) -> local_state.LoginState | None:
        """The saved webserver login in use (session mode)."""
        return self._login

    def use_login(self, state: local_state.LoginState) -> None:
        self._login = state
        if self._http is not None:
            self._http.cookie_jar.update_cookies(state.cookies)

    async def open(self) -> None:
        """Negotiate the API version, then show the announcement if a handler is set."""
        self.api_version = await self._negotiate()
        if self._on_announcement is not None:
            try:
                payload = await self.Manager.announcement()
            except BackendError:
                return  # older servers have no announcements
            if payload["enabled"]:
                self._on_announcement(payload["message"])

    async def _negotiate(self) -> tuple[int, str]:
        client_version = self.config.api_version
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self.config.connection_timeout or None,
            sock_read=self.config.read_timeout or None,
        )
        for _ in self.config.endpoints:
            url = build_url(self.current_endpoint, self.config.endpoint_type, "/")
            try:
                async with self.http.get(
                    url, headers={"User-Agent": self.config.user_agent}, timeout=timeout
                ) as resp:
                    if resp.status // 100 != 2:
                        return client_version
                    info: Any = json.loads(await resp.read())
            except (aiohttp.ClientConnectionError, TimeoutError):
                self.rotate_endpoint()
                continue
            except (aiohttp.ClientError, ValueError):
                return client_version
            try:
                server_version = parse_api_version(str(info["version"]))
            except (TypeError, KeyError, ValueError):
                return client_version
            if server_version > client_version:
                warnings.warn(
                    f"The server speaks API {format_api_version(server_version)}, newer than "
                    f"this client's {format_api_version(client_version)}; "
                    "consider upgrading the client.",
                    APIVersionWarning,
                    stacklevel=2,
                )
            return min(server_version, client_version)
        return client_version

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class Session:
    """A client session whose API functions block and return results.

    It runs an :class:`AsyncSession` on a private event loop in a worker thread, so it
    works in plain scripts and in Jupyter alike. Use it as a context manager, or call
    :meth:`close` when done.
    """

    def __init__(
        self,
        *,
        config: APIConfig | None = None,
        on_announcement: AnnouncementHandler | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self._async = AsyncSession(
            config=config, on_announcement=on_announcement, state_dir=state_dir
        )
        self._worker = EventLoopThread()
        self._closed = False
        worker = self._worker
        self.System: System[SyncMode] = System(self._async, worker)
        self.Manager: Manager[SyncMode] = Manager(self._async, worker)
        self.Dotfile: Dotfile[SyncMode] = Dotfile(self._async, worker)
        self.ServerLog: ServerLog[SyncMode] = ServerLog(self._async, worker)
        self.EtcdConfig: EtcdConfig[SyncMode] = EtcdConfig(self._async, worker)
        self.Editions: Editions[SyncMode] = Editions(self._async, worker)
        self.Admin: Admin[SyncMode] = Admin(self._async, worker)
        self.Auth: Auth[SyncMode] = Auth(self._async, worker)
        self.KeyPair: KeyPair[SyncMode] = KeyPair(self._async, worker)
        self.User: User[SyncMode] = User(self._async, worker)
        self.Domain: Domain[SyncMode] = Domain(self._async, worker)
        self.Group: Group[SyncMode] = Group(self._async, worker)
        self.Image: Image[SyncMode] = Image(self._async, worker)
        self.ComputeSession: ComputeSession[SyncMode] = ComputeSession(self._async, worker)
        self.Kernel = self.ComputeSession  # the name in Backend.AI's older SDKs
        self.KeypairResourcePolicy: KeypairResourcePolicy[SyncMode] = KeypairResourcePolicy(
            self._async, worker
        )
        self.ScalingGroup: ScalingGroup[SyncMode] = ScalingGroup(self._async, worker)
        self.Agent: Agent[SyncMode] = Agent(self._async, worker)
        self.Resource: Resource[SyncMode] = Resource(self._async, worker)
        self.Storage: Storage[SyncMode] = Storage(self._async, worker)
        self.Scheduler: Scheduler[SyncMode] = Scheduler(self._async, worker)
        self.VFolder: VFolder[SyncMode] = VFolder(self._async, worker)
        self.SessionTemplate: SessionTemplate[SyncMode] = SessionTemplate(self._async, worker)
        self.Batch: Batch[SyncMode] = Batch(self._async, worker)

    @property
    def config(self) -> APIConfig:
        return self._async.config

    @property
    def api_version(self) -> tuple[int, str]:
        return self._async.api_version

    @property
    def async_session(self) -> AsyncSession:
        """The asynchronous session doing the work (for advanced use)."""
        return self._async

    @property
    def closed(self) -> bool:
        return self._closed

    def open(self) -> None:
        self._worker.run(self._async.open())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._worker.alive:
                self._worker.run(self._async.close())
        finally:
            self._worker.stop()

    def __enter__(self) -> Self:
        if self._closed:
            raise RuntimeError("A closed session cannot be reopened.")
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A forgotten session must not keep its thread (a daemon) or sockets around.
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):
                self.close()
