"""The webserver application: login, API forwarding (and, later, the web UI)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from backendai.common.problems import problem_middleware
from backendai.webserver import forward, login
from backendai.webserver.context import CONTEXT_KEY, WebserverContext
from backendai.webserver.sessions import LoginSessionStore, LoginThrottle
from backendai.webserver.settings import WebserverSettings


def create_app(settings: WebserverSettings) -> web.Application:
    app = web.Application(middlewares=[problem_middleware], client_max_size=64 * 1024 * 1024)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=10))
        app[CONTEXT_KEY] = WebserverContext(
            settings=settings,
            http=http,
            sessions=LoginSessionStore(max_age=settings.session_max_age),
            throttle=LoginThrottle(settings.login_max_failures, settings.login_lock_seconds),
        )
        yield
        await http.close()

    app.cleanup_ctx.append(lifecycle)
    login.setup(app)
    forward.setup(app)
    return app
