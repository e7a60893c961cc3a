"""What the webserver's handlers share."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web

from backendai.common.forwarding import TrustedProxies
from backendai.webserver.origins import OriginGuard
from backendai.webserver.sessions import LoginSession, LoginSessionStore, LoginThrottle
from backendai.webserver.settings import WebserverSettings


@dataclass
class WebserverContext:
    settings: WebserverSettings
    http: aiohttp.ClientSession
    sessions: LoginSessionStore
    throttle: LoginThrottle
    proxies: TrustedProxies
    origins: OriginGuard


CONTEXT_KEY = web.AppKey("webserver_context", WebserverContext)


def context_of(request: web.Request) -> WebserverContext:
    return request.app[CONTEXT_KEY]


def current_login(request: web.Request) -> tuple[str | None, LoginSession | None]:
    ctx = context_of(request)
    token = request.cookies.get(ctx.settings.session_cookie)
    return token, ctx.sessions.get(token)
