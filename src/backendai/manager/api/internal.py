"""``/internal/agents/...``: what agents report (heartbeats, kernel events).

Not signed with a keypair (the signature middleware lets them through) but authenticated by
the shared agent token, compared in constant time.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from backendai.common.agent_protocol import AGENT_TOKEN_HEADER, AgentHeartbeat, KernelEvent
from backendai.common.errors import AuthenticationFailed
from backendai.manager.api.auth import public
from backendai.manager.api.params import parse_params
from backendai.manager.context import context_of


def _check_token(request: web.Request) -> None:
    given = request.headers.get(AGENT_TOKEN_HEADER, "")
    expected = context_of(request).agent_client.token
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthenticationFailed(
            f"Missing or wrong {AGENT_TOKEN_HEADER}: configure the agent with the manager's "
            "agent token."
        )


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


def setup(app: web.Application) -> None:
    app.router.add_post("/internal/agents/heartbeat", heartbeat)
    app.router.add_post("/internal/agents/events", kernel_event)
