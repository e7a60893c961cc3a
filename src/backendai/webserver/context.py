"""What the webserver's handlers share."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web

from backendai.common.errors import AuthenticationFailed
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


def login_cookie_count(request: web.Request) -> int:
    """How many cookies named as the login cookie the request carries."""
    name = context_of(request).settings.session_cookie
    return sum(
        1
        for header in request.headers.getall("Cookie", [])
        for piece in header.split(";")
        if piece.split("=", 1)[0].strip() == name
    )


def current_login(request: web.Request) -> tuple[str | None, LoginSession | None]:
    """The login the request's cookie names. Two cookies of that name mean that one was set
    by someone else (a page or an app on this host planting its own login, for the user to
    act as the planter): refused, rather than guessing which one the browser meant."""
    ctx = context_of(request)
    if login_cookie_count(request) > 1:
        raise AuthenticationFailed(
            "Your browser sent two login cookies for this site; one was set by something "
            "else on this host. Log in again (that clears it), or clear this site's cookies."
        )
    token = request.cookies.get(ctx.settings.session_cookie)
    return token, ctx.sessions.get(token)
