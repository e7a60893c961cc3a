"""The agent process: its API, the re-adoption of running kernels, the warm pool, the
sessions' networks and firewall rules, heartbeats and events.

``create_app(settings)`` gives the aiohttp application (so a launcher can serve it beside
others); ``run_agent(settings)`` serves it on the configured address until cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pwd
from collections.abc import AsyncIterator

from aiohttp import web

from backendai.agent.app_handoff import AppHandoff
from backendai.agent.backends import create_backend
from backendai.agent.backends.protocol import ContainerBackend
from backendai.agent.errors import FirewallError
from backendai.agent.firewall import Firewall
from backendai.agent.heartbeat import ManagerLink, heartbeat_loop
from backendai.agent.kernels import KernelRegistry
from backendai.agent.monitor import ContainerMonitor
from backendai.agent.networks import SessionNetworks
from backendai.agent.resources import detect_capacity
from backendai.agent.server import CONTEXT_KEY, AgentContext, setup_routes, token_middleware
from backendai.agent.settings import AgentSettings
from backendai.common.errors import ConfigurationError
from backendai.common.private import private_dir
from backendai.common.problems import problem_middleware

log = logging.getLogger(__name__)


def create_app(settings: AgentSettings, backend: ContainerBackend | None = None) -> web.Application:
    """The agent API. ``backend``: an engine to use instead of the configured one (tests);
    the caller then closes it."""
    app = web.Application(
        middlewares=[problem_middleware, token_middleware(settings.token)],
        client_max_size=1024 * 2**20,  # uploads are streamed to disk; this only bounds them
    )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        engine = backend or create_backend(settings)
        private_dir(settings.data_dir)
        capacity = detect_capacity(
            reserved_cpu=settings.reserved_cpu,
            reserved_mem=settings.reserved_mem,
            cpu=settings.cpu,
            mem=settings.mem,
        )
        warn_if_host_account(settings.uid)
        # Before any session starts: no session may ever run without its firewall rules.
        firewall = await start_firewall(settings, engine)
        networks = SessionNetworks(settings, engine, firewall)
        registry = KernelRegistry(settings, engine, capacity, networks)
        # Before serving: a kernel that survived an agent restart is usable at once.
        await registry.adopt_all()
        await registry.start_pool()
        networks.start()  # spares, once the sweep at start has removed an earlier run's
        app[CONTEXT_KEY] = AgentContext(settings, engine, registry, capacity)
        handoff = None
        if settings.app_handoff:
            handoff = AppHandoff(registry, settings.token, settings.app_handoff_socket)
            try:
                await handoff.start()
            except OSError as e:  # e.g. a data dir path too long for a unix socket
                log.warning("no app handoff socket (proxies use the tunnel): %s", e)
                handoff = None
        link = ManagerLink(settings)
        tasks = [asyncio.create_task(networks.maintain(), name="session-networks")]
        if settings.manager_url:
            tasks += [
                asyncio.create_task(heartbeat_loop(settings, registry, engine, capacity, link)),
                asyncio.create_task(ContainerMonitor(registry, engine, link).run()),
            ]
        log.info(
            "agent %s: %s cores, %d bytes of memory, %d kernel(s)",
            settings.id, capacity.cpu, capacity.mem, len(registry.kernels),
        )  # fmt: skip
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await link.close()
        if handoff is not None:
            await handoff.close()
        await registry.tasks.close()  # batch task runs end before their containers do
        await registry.pool.close()
        await networks.close()
        if backend is None:
            await engine.close()

    app.cleanup_ctx.append(lifecycle)
    setup_routes(app)
    return app


async def start_firewall(settings: AgentSettings, engine: ContainerBackend) -> Firewall | None:
    """The host firewall rules in place, or None where they do not apply; ConfigurationError
    when they should and cannot be installed."""
    if not settings.firewall:
        log.warning("[agent] firewall = false: sessions can reach this host's addresses")
        return None
    if not engine.bridges_on_host:  # a remote engine (or the fake): its host's business
        log.info("the container engine's networks are not on this host: no firewall rules")
        return None
    firewall = Firewall()
    try:
        await firewall.ensure()
    except FirewallError as e:
        raise ConfigurationError(str(e)) from e
    return firewall


def warn_if_host_account(uid: int) -> str | None:
    """The host account that shares the container uid, if any (logged: its owner could read
    every session's files on the host, and the sessions theirs)."""
    try:
        account = pwd.getpwuid(uid).pw_name
    except KeyError:
        return None
    log.warning(
        "the container uid %d is the host account %r: session files on the host belong to it. "
        "Set [agent] uid/gid to ids no host account uses (and build the images with them).",
        uid, account,
    )  # fmt: skip
    return account


async def run_agent(settings: AgentSettings) -> None:
    """Serve the agent until cancelled. Kernels keep running when it stops; the warm pool's
    idle containers are removed."""
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True)
        try:
            await site.start()
        except OSError as e:
            raise ConfigurationError(
                f"The agent cannot listen on {settings.host}:{settings.port}: {e.strerror}."
            ) from e
        log.info("agent %s listening on %s", settings.id, settings.addr)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
