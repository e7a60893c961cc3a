"""The authentication edge: every route is signed unless marked public."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, Field

from backendai.common.errors import AuthenticationFailed
from backendai.common.forwarding import TrustedProxies
from backendai.manager.api.params import parse_params
from backendai.manager.context import ManagerContext, context_of
from backendai.manager.services.auth import Principal, SignedRequest

PRINCIPAL_KEY = web.RequestKey("principal", Principal)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)


def public(handler: H) -> H:
    """Mark a handler that answers without a signature (version probe, login)."""
    handler.__dict__["auth_public"] = True
    return handler


def principal_of(request: web.Request) -> Principal:
    if PRINCIPAL_KEY not in request:
        raise AuthenticationFailed("This request is not authenticated.")
    return request[PRINCIPAL_KEY]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route_handler = request.match_info.handler
    if getattr(route_handler, "auth_public", False) or request.match_info.http_exception:
        return await handler(request)
    headers = request.headers
    signed = SignedRequest(
        method=request.method,
        raw_path=request.raw_path,
        host=headers.get("Host", ""),
        content_type=request.content_type,
        authorization=headers.get("Authorization"),
        date=headers.get("Date") or headers.get("X-BackendAI-Date") or headers.get("X-Sorna-Date"),
        api_version=headers.get("X-BackendAI-Version") or headers.get("X-Sorna-Version"),
    )
    request[PRINCIPAL_KEY] = await context_of(request).auth.authenticate(signed)
    return await handler(request)


class AuthorizeParams(BaseModel):
    type: str = Field(default="keypair", description="Only keypair authorization exists.")
    domain: str = "default"
    username: str = Field(min_length=1, description="The user's email.")
    password: str = Field(min_length=1)


def client_address(request: web.Request, ctx: ManagerContext) -> str:
    """Whom the per-address login limit counts: the peer, or, behind a trusted proxy (the
    webserver), the client that the proxy names in X-Forwarded-For."""
    forwarded_for = ",".join(request.headers.getall("X-Forwarded-For", []))
    proxies = TrustedProxies(ctx.settings.login_trusted_proxies)
    return proxies.client_address(request.remote, forwarded_for)


@public
async def authorize(request: web.Request) -> web.Response:
    """POST /auth/authorize: exchange an email and password for the user's keypair.

    The webserver calls this at login and then signs on the user's behalf. Refusals are all
    alike (401); too many attempts per user name or address are 429 with Retry-After.
    """
    params = await parse_params(request, AuthorizeParams)
    ctx = context_of(request)
    p = await ctx.auth.authorize_password(
        params.domain, params.username, params.password, client_address(request, ctx)
    )
    return web.json_response(
        {
            "data": {
                "access_key": p.access_key,
                "secret_key": p.secret_key,
                "role": p.role.value,
                "status": "active",
                "email": p.email,
                "user_uuid": str(p.user_uuid),
                "domain_name": p.domain_name,
            }
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_post("/auth/authorize", authorize)
