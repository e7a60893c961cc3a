"""A session's apps: the TCP tunnel of ``backend.ai app`` (API_CONTRACT §3.2) and the app routes
that browsers open through an app proxy (``backendai.common.app_protocol``).

The tunnel starts the app before the WebSocket upgrade, so that an unknown app (404), a bad
argument (400) or an app that fails to start (502, with its log) is an answer the client can
show, not a socket that hangs; then binary frames pass verbatim to the agent's tunnel.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

from aiohttp import web

from backendai.common.app_protocol import (
    SESSION_APP_OPEN,
    SESSION_APP_ROUTES,
    AppOpenRequest,
    AppStartRequest,
)
from backendai.common.errors import InvalidRequest, SessionNotFound
from backendai.common.websockets import MAX_FRAME_SIZE, relay
from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import check_text, parse_params, validate
from backendai.manager.api.session import session_from_request
from backendai.manager.context import context_of
from backendai.manager.db.models import Session


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON value")


def _json_param(query: Mapping[str, str], name: str) -> Any:
    raw = query.get(name)
    if raw is None or not raw.strip():
        return {}
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise InvalidRequest(
            f"The query parameter {name} is not valid JSON ({e}): send a JSON object, "
            'e.g. {"--opt": "value"}.'
        ) from e


def tunnel_request(query: Mapping[str, str]) -> AppStartRequest:
    """``arguments`` and ``envs`` of a tunnel request, as the official client sends them."""
    data = {"arguments": _json_param(query, "arguments"), "envs": _json_param(query, "envs")}
    return validate(AppStartRequest, data)


async def _own_session(request: web.Request) -> Session:
    """The caller's own session: app routes carry a secret URL that only the owner gets, so
    ``owner_access_key`` of anyone else finds nothing, as for a missing session."""
    owner = request.query.get("owner_access_key") or request.query.get("ownerAccessKey")
    if owner and owner != principal_of(request).access_key:
        raise SessionNotFound(f"No session {request.match_info['name']!r} among yours.")
    return await session_from_request(request)


async def tcpproxy(request: web.Request) -> web.WebSocketResponse:
    """``GET /stream/session/{name}/tcpproxy?app=NAME`` (and its alias ``httpproxy``)."""
    ctx = context_of(request)
    s = await session_from_request(request)
    app = request.query.get("app", "")
    check_text({"app": app})
    if not app:
        raise InvalidRequest("Name the app to reach: ?app=NAME (see GET .../apps).")
    req = tunnel_request(request.query)
    target, _ = await ctx.apps.find(s, app)
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_SIZE)
    if not ws.can_prepare(request).ok:
        raise InvalidRequest(
            "This route speaks WebSocket: connect with an Upgrade: websocket request."
        )
    await ctx.apps.start(s, target, app, req)
    agent_ws = await ctx.apps.tunnel(target, app, req)

    async def touch() -> None:
        await ctx.idle.touch(s.id)

    try:
        await ws.prepare(request)
        await touch()
        await relay(ws, agent_ws, touch, touch)  # traffic either way is use of the session
    finally:
        await agent_ws.close()
        await ws.close()
    return ws


async def open_app(request: web.Request) -> web.Response:
    s = await _own_session(request)
    params = await parse_params(request, AppOpenRequest)
    app = request.match_info["app"]
    result = await context_of(request).app_routes.open(s, app, params)
    return web.json_response(result.model_dump(mode="json"))


async def close_app(request: web.Request) -> web.Response:
    s = await _own_session(request)
    await context_of(request).app_routes.close(s, request.match_info["app"])
    return web.Response(status=204)


async def list_routes(request: web.Request) -> web.Response:
    s = await _own_session(request)
    routes = await context_of(request).app_routes.routes(s)
    return web.json_response([r.model_dump(mode="json") for r in routes])


def setup(app: web.Application) -> None:
    app.router.add_get("/stream/session/{name}/tcpproxy", tcpproxy)
    app.router.add_get("/stream/session/{name}/httpproxy", tcpproxy)
    app.router.add_post(SESSION_APP_OPEN, open_app)
    app.router.add_delete(SESSION_APP_OPEN, close_app)
    app.router.add_get(SESSION_APP_ROUTES, list_routes)
