"""The manager application: builds the aiohttp app, its context, routes and background tasks."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from backendai.common.private import private_dir
from backendai.common.problems import problem_middleware
from backendai.manager.api import (
    account,
    apps,
    auth,
    dotfiles,
    editions,
    error_logs,
    events,
    gql,
    internal,
    manager_status,
    root,
    session,
    session_templates,
    shared_config,
    stream,
    sweeps,
    task_logs,
    vfolders,
)
from backendai.manager.api import images as image_api
from backendai.manager.api import resources as resource_api
from backendai.manager.api.db_errors import database_errors
from backendai.manager.api.error_logs import record_errors
from backendai.manager.background import Periodic
from backendai.manager.context import CONTEXT_KEY, ManagerContext
from backendai.manager.db.engine import create_engine
from backendai.manager.db.migrate import upgrade
from backendai.manager.settings import ManagerSettings


def create_app(
    settings: ManagerSettings, *, migrate: bool = True, background: bool = True
) -> web.Application:
    """``background=False`` leaves out the periodic tasks (scheduler loop, lost-agent and idle
    checks); tests then drive them by hand."""
    app = web.Application(
        middlewares=[problem_middleware, record_errors, database_errors, auth.auth_middleware],
        client_max_size=64 * 1024 * 1024,
    )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        private_dir(settings.data_dir)
        if migrate:
            await upgrade(settings.database_url)
        engine = create_engine(settings.database_url, busy_timeout=settings.db_busy_timeout)
        ctx = ManagerContext.build(settings, engine)
        await ctx.start()
        app[CONTEXT_KEY] = ctx
        loops = [
            Periodic("lost-agents", ctx.agents.mark_lost, ctx.agents.lost_check_interval),
            Periodic("idle-sessions", ctx.idle.sweep, settings.idle_check_interval),
        ]
        if background:
            await ctx.control.resume()  # what a killed previous run left TERMINATING/RESTARTING
            ctx.scheduler.start()
            for loop in loops:
                loop.start()
        yield
        for loop in loops:
            await loop.stop()
        await ctx.close()
        await engine.dispose()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(_close_streams)
    root.setup(app)
    auth.setup(app)
    account.setup(app)
    gql.setup(app)
    session_templates.setup(app)  # before session: its /session/_/... route
    sweeps.setup(app)  # before session: its /session/_/sweeps routes
    task_logs.setup(app)  # before session: /session/{name}/logs would take /session/_/logs
    session.setup(app)
    stream.setup(app)
    apps.setup(app)
    events.setup(app)
    internal.setup(app)
    image_api.setup(app)
    resource_api.setup(app)
    vfolders.setup(app)
    for module in (manager_status, shared_config, dotfiles, error_logs, editions):
        module.setup(app)
    return app


async def _close_streams(app: web.Application) -> None:
    """End open event streams so that shutdown does not wait for their clients."""
    ctx = app.get(CONTEXT_KEY)
    if ctx is not None:
        ctx.events.close()
