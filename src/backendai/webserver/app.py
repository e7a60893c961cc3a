"""The webserver application: login, API forwarding, the storage relay and the web UI."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from backendai.common.forwarding import TrustedProxies
from backendai.common.problems import Handler, problem_middleware
from backendai.webserver import forward, login, storage_relay, ui
from backendai.webserver.context import CONTEXT_KEY, WebserverContext, context_of
from backendai.webserver.origins import OriginGuard
from backendai.webserver.sessions import LoginSessionStore, LoginThrottle
from backendai.webserver.settings import WebserverSettings


@web.middleware
async def origin_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Cross-site requests are refused before any handler (and any WebSocket) runs."""
    context_of(request).origins.check(request)
    return await handler(request)


def create_app(settings: WebserverSettings) -> web.Application:
    app = web.Application(
        middlewares=[problem_middleware, origin_middleware], client_max_size=64 * 1024 * 1024
    )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=10))
        proxies = TrustedProxies(settings.trusted_proxies)
        app[CONTEXT_KEY] = WebserverContext(
            settings=settings,
            http=http,
            sessions=LoginSessionStore(max_age=settings.session_max_age),
            throttle=LoginThrottle(settings.login_max_failures, settings.login_lock_seconds),
            proxies=proxies,
            origins=OriginGuard(proxies, settings.allowed_origins),
        )
        yield
        await http.close()

    app.cleanup_ctx.append(lifecycle)
    login.setup(app)
    forward.setup(app)
    storage_relay.setup(app)
    ui.setup(app)
    return app
