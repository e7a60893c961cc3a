"""``/internal/...``: what agents report (heartbeats, kernel events) and what app proxies ask
(the routes they serve, the sessions whose apps carried traffic).

Not signed with a keypair (the signature middleware lets them through) but authenticated by
the shared agent or app-proxy token, compared in constant time.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from backendai.common.agent_protocol import AGENT_TOKEN_HEADER, AgentHeartbeat, KernelEvent
from backendai.common.app_protocol import (
    APPPROXY_TOKEN_HEADER,
    MANAGER_PROXY_ACTIVITY,
    MANAGER_PROXY_ROUTES,
    ProxyActivity,
)
from backendai.common.errors import AuthenticationFailed, InvalidRequest
from backendai.manager.api.auth import public
from backendai.manager.api.params import check_text, parse_params
from backendai.manager.context import context_of


def _check_secret(request: web.Request, header: str, expected: str, what: str) -> None:
    given = request.headers.get(header, "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthenticationFailed(
            f"Missing or wrong {header}: configure the {what} with the manager's {what} token."
        )


def _check_token(request: web.Request) -> None:
    _check_secret(request, AGENT_TOKEN_HEADER, context_of(request).agent_client.token, "agent")


def _check_proxy_token(request: web.Request) -> None:
    token = context_of(request).appproxies.token
    _check_secret(request, APPPROXY_TOKEN_HEADER, token, "app proxy")


@public
async def heartbeat(request: web.Request) -> web.Response:
    _check_token(request)
    hb = await parse_params(request, AgentHeartbeat)
    await context_of(request).agents.heartbeat(hb)
    return web.json_response({"ok": True})


@public
async def kernel_event(request: web.Request) -> web.Response:
    _check_token(request)
    ev = await parse_params(request, KernelEvent)
    await context_of(request).agents.kernel_event(ev)
    return web.json_response({"ok": True})


@public
async def proxy_routes(request: web.Request) -> web.Response:
    """What a proxy must serve (asked at its start): its routes, with fresh tunnel tickets."""
    _check_proxy_token(request)
    proxy = request.query.get("proxy", "")
    check_text({"proxy": proxy})
    if not proxy:
        raise InvalidRequest("Name the proxy: ?proxy=ID (its [appproxy] id).")
    specs = await context_of(request).app_routes.proxy_routes(proxy)
    return web.json_response([spec.model_dump(mode="json") for spec in specs])


@public
async def proxy_activity(request: web.Request) -> web.Response:
    _check_proxy_token(request)
    act = await parse_params(request, ProxyActivity)
    await context_of(request).app_routes.activity(act)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    app.router.add_post("/internal/agents/heartbeat", heartbeat)
    app.router.add_post("/internal/agents/events", kernel_event)
    app.router.add_get(MANAGER_PROXY_ROUTES, proxy_routes)
    app.router.add_post(MANAGER_PROXY_ACTIVITY, proxy_activity)
