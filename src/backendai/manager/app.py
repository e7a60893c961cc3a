"""The manager application: builds the aiohttp app, its context and its routes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from backendai.common.problems import problem_middleware
from backendai.manager.api import auth, gql, root
from backendai.manager.context import CONTEXT_KEY, ManagerContext
from backendai.manager.db.engine import create_engine, create_session_factory
from backendai.manager.db.migrate import upgrade
from backendai.manager.services.auth import AuthService
from backendai.manager.settings import ManagerSettings


def create_app(settings: ManagerSettings, *, migrate: bool = True) -> web.Application:
    app = web.Application(
        middlewares=[problem_middleware, auth.auth_middleware],
        client_max_size=64 * 1024 * 1024,
    )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if migrate:
            await upgrade(settings.database_url)
        engine = create_engine(settings.database_url)
        db = create_session_factory(engine)
        app[CONTEXT_KEY] = ManagerContext(
            settings=settings,
            engine=engine,
            db=db,
            auth=AuthService(db, settings.auth_clock_skew),
        )
        yield
        await engine.dispose()

    app.cleanup_ctx.append(lifecycle)
    root.setup(app)
    auth.setup(app)
    gql.setup(app)
    return app
