"""Email and password login with a cookie session (``/server/login``, ``/server/logout``)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from backendai.common.errors import (
    AuthenticationFailed,
    InternalError,
    InvalidRequest,
    LoginLocked,
    ServiceUnavailable,
    TooManyRequests,
)
from backendai.webserver.context import (
    WebserverContext,
    context_of,
    current_login,
    login_cookie_count,
)
from backendai.webserver.forward import manager_json
from backendai.webserver.origins import public_scheme
from backendai.webserver.sessions import LoginSession

# The answer to every refused login, whatever the manager's reason.
LOGIN_REFUSED = "The email or password is incorrect."


class LoginParams(BaseModel):
    username: str = Field(min_length=1, description="The user's email.")
    password: str = Field(min_length=1)


def _session_data(session: LoginSession) -> dict[str, Any]:
    return {
        "access_key": session.access_key,
        "role": session.role,
        "status": "active",
        "email": session.email,
    }


async def _read_login(request: web.Request) -> LoginParams:
    try:
        body = await request.json()
    except ValueError as e:
        raise InvalidRequest(
            'The login request must be a JSON object {"username": EMAIL, "password": PASSWORD}.'
        ) from e
    if not isinstance(body, dict):
        raise InvalidRequest('The login request must be a JSON object {"username", "password"}.')
    missing = [k for k in ("username", "password") if not body.get(k)]
    if missing:
        raise InvalidRequest(f"Missing login field(s): {', '.join(missing)}.")
    return LoginParams(username=str(body["username"]), password=str(body["password"]))


async def _authorize(ctx: WebserverContext, params: LoginParams, client: str) -> dict[str, Any]:
    answer = await manager_json(
        ctx,
        "POST",
        "/auth/authorize",
        {
            "type": "keypair",
            "domain": ctx.settings.domain,
            "username": params.username,
            "password": params.password,
        },
        # The manager limits logins per client address too; we are the proxy in between.
        headers={"X-Forwarded-For": client},
    )
    body = answer.body if isinstance(answer.body, dict) else {}
    data = body.get("data")
    if answer.status == 200 and isinstance(data, dict):
        return data
    if answer.status in (400, 401, 403, 404):
        # One answer for every refusal: the manager's reason stays with the manager.
        raise AuthenticationFailed(LOGIN_REFUSED)
    detail = body.get("msg") or f"The manager could not check the login (HTTP {answer.status})."
    if answer.status == 429:
        locked = str(body.get("type", "")).endswith("/login-locked")
        error = LoginLocked if locked else TooManyRequests
        raise error(detail, retry_after=answer.retry_after or 1)
    if answer.status == 503:
        raise ServiceUnavailable(detail, retry_after=answer.retry_after)
    raise InternalError(detail)


def _over_tls(request: web.Request, ctx: WebserverContext) -> bool:
    return public_scheme(request, ctx.proxies) == "https"


async def login(request: web.Request) -> web.Response:
    ctx = context_of(request)
    params = await _read_login(request)
    client = ctx.proxies.client_address(
        request.remote, ",".join(request.headers.getall("X-Forwarded-For", []))
    )
    # Counted before the manager is asked, so concurrent guesses cannot overtake the count.
    attempt = ctx.throttle.begin(params.username)
    try:
        data = await _authorize(ctx, params, client)
    except (AuthenticationFailed, asyncio.CancelledError):
        attempt.fail()
        raise
    except BaseException:
        attempt.release()  # the manager was busy or unreachable: nothing was checked
        raise
    attempt.succeed()
    if login_cookie_count(request) <= 1:  # a planted second one is cleared below
        old_token, _ = current_login(request)
        ctx.sessions.drop(old_token)
    token = ctx.sessions.create(
        data["access_key"], data["secret_key"], data.get("email", params.username), data["role"]
    )
    session = ctx.sessions.get(token)
    assert session is not None
    response = web.json_response({"authenticated": True, "data": _session_data(session)})
    response.set_cookie(
        ctx.settings.session_cookie,
        token,
        httponly=True,  # never readable by the page's scripts
        # Lax: not sent on cross-site subrequests and form posts, yet still on a link from
        # elsewhere to the web UI; the Origin check covers what Lax lets through.
        samesite="Lax",
        secure=_over_tls(request, ctx),
        path="/",
        max_age=ctx.settings.session_max_age,
    )
    _expire_planted(response, ctx, secure=_over_tls(request, ctx))
    return response


# Paths under which a planted login cookie would shadow ours (browsers send the more specific
# path first); a login expires them all.
_PLANTED_PATHS = ("/func", "/server", "/storage", "/static")


def _expire_planted(response: web.Response, ctx: WebserverContext, secure: bool) -> None:
    flags = "; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
    for path in _PLANTED_PATHS:
        response.headers.add(
            "Set-Cookie", f"{ctx.settings.session_cookie}=; Max-Age=0; Path={path}{flags}"
        )


async def logout(request: web.Request) -> web.Response:
    ctx = context_of(request)
    token, _ = current_login(request)
    ctx.sessions.drop(token)
    response = web.json_response({}, status=201)
    response.del_cookie(
        ctx.settings.session_cookie,
        path="/",
        secure=_over_tls(request, ctx),
        httponly=True,
        samesite="Lax",
    )
    return response


async def login_check(request: web.Request) -> web.Response:
    _, session = current_login(request)
    return web.json_response(
        {
            "authenticated": session is not None,
            "data": _session_data(session) if session else None,
            # Not the token: the cookie is HttpOnly so that scripts never see it.
            "session_id": session.public_id if session else None,
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_post("/server/login", login)
    app.router.add_post("/server/logout", logout)
    app.router.add_post("/server/login-check", login_check)
