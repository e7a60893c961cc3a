"""The app proxy's control API (the manager's side): routes put, deleted, listed; status.

Every route is allowed only with the shared token in ``X-BackendAI-AppProxy-Token`` (compared
in constant time). Users never talk to this API; they reach the routes' own ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import ValidationError

from backendai.appproxy.manager_link import ManagerLink
from backendai.appproxy.routes import RouteTable
from backendai.appproxy.settings import AppProxySettings
from backendai.common.app_protocol import (
    APPPROXY_TOKEN_HEADER,
    PROXY_ROUTE,
    PROXY_ROUTES,
    PROXY_STATUS,
    AppRouteSpec,
)
from backendai.common.errors import AuthenticationFailed, InvalidRequest
from backendai.common.problems import problem_middleware

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TABLE: web.AppKey[RouteTable] = web.AppKey("appproxy_routes", RouteTable)
LINK: web.AppKey[ManagerLink | None] = web.AppKey("appproxy_manager_link", ManagerLink)


def _token_middleware(expected: bytes) -> Middleware:
    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get(APPPROXY_TOKEN_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            raise AuthenticationFailed(f"Missing or wrong {APPPROXY_TOKEN_HEADER} header.")
        return await handler(request)

    return check_token


def _route_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["route_id"])
    except ValueError:
        raise InvalidRequest("The route id is not a UUID.") from None


async def put_route(request: web.Request) -> web.Response:
    route_id = _route_id(request)
    try:
        spec = AppRouteSpec.model_validate_json(await request.read())
    except ValidationError as e:
        raise InvalidRequest(f"Invalid route: {e.errors()[0]['msg']}.") from e
    if spec.route_id != route_id:
        raise InvalidRequest("The route id of the body differs from the path's.")
    if not spec.public and len(spec.token) < 16:
        raise InvalidRequest("A private route needs a token of 16 characters or more.")
    route = await request.app[TABLE].put(spec)
    return web.json_response(text=route.model_dump_json())


async def delete_route(request: web.Request) -> web.Response:
    await request.app[TABLE].delete(_route_id(request))
    return web.Response(status=204)


async def list_routes(request: web.Request) -> web.Response:
    routes = request.app[TABLE].list()
    return web.json_response(text="[" + ",".join(r.model_dump_json() for r in routes) + "]")


async def status(request: web.Request) -> web.Response:
    return web.json_response(text=request.app[TABLE].status().model_dump_json())


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    table, link = app[TABLE], app[LINK]
    task = asyncio.create_task(link.run()) if link is not None else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await table.close()


def create_app(settings: AppProxySettings) -> web.Application:
    token = settings.appproxy_token()
    app = web.Application(
        middlewares=[problem_middleware, _token_middleware(token.encode())],
        client_max_size=1024 * 1024,
    )
    table = RouteTable(settings)
    app[TABLE] = table
    app[LINK] = (
        ManagerLink(table, settings.manager_url, token, settings.activity_interval)
        if settings.manager_url
        else None
    )
    app.router.add_put(PROXY_ROUTE, put_route)
    app.router.add_delete(PROXY_ROUTE, delete_route)
    app.router.add_get(PROXY_ROUTES, list_routes)
    app.router.add_get(PROXY_STATUS, status)
    app.cleanup_ctx.append(_lifecycle)
    return app
