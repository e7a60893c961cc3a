"""Email and password login with a cookie session (``/server/login``, ``/server/logout``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from backendai.common.errors import AuthenticationFailed, InvalidRequest, LoginLocked
from backendai.webserver.context import WebserverContext, context_of, current_login
from backendai.webserver.forward import manager_json
from backendai.webserver.sessions import LoginSession


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


async def _authorize(ctx: WebserverContext, params: LoginParams) -> dict[str, Any]:
    status, body = await manager_json(
        ctx,
        "POST",
        "/auth/authorize",
        {
            "type": "keypair",
            "domain": ctx.settings.domain,
            "username": params.username,
            "password": params.password,
        },
    )
    data = body.get("data") if isinstance(body, dict) else None
    if status == 200 and isinstance(data, dict):
        return data
    if status in (400, 401, 403, 404):
        detail = body.get("msg") if isinstance(body, dict) else None
        raise AuthenticationFailed(detail or "The email or password is incorrect.")
    raise AuthenticationFailed(f"The manager could not check the login (HTTP {status}).")


async def login(request: web.Request) -> web.Response:
    ctx = context_of(request)
    params = await _read_login(request)
    locked = ctx.throttle.seconds_locked(params.username)
    if locked:
        raise LoginLocked(
            f"Too many failed login attempts for {params.username}; try again in {locked} s."
        )
    try:
        data = await _authorize(ctx, params)
    except AuthenticationFailed:
        ctx.throttle.record_failure(params.username)
        raise
    ctx.throttle.record_success(params.username)
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
        httponly=True,
        path="/",
        samesite="Lax",
        max_age=ctx.settings.session_max_age,
    )
    return response


async def logout(request: web.Request) -> web.Response:
    ctx = context_of(request)
    token, _ = current_login(request)
    ctx.sessions.drop(token)
    response = web.json_response({}, status=201)
    response.del_cookie(ctx.settings.session_cookie, path="/")
    return response


async def login_check(request: web.Request) -> web.Response:
    token, session = current_login(request)
    return web.json_response(
        {
            "authenticated": session is not None,
            "data": _session_data(session) if session else None,
            "session_id": token if session else None,
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_post("/server/login", login)
    app.router.add_post("/server/logout", logout)
    app.router.add_post("/server/login-check", login_check)
