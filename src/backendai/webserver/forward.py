"""Forwarding ``/func/...`` to the manager, signed with the logged-in user's keypair.

The client in session mode sends unsigned requests with the login cookie; the manager only
trusts signatures, so the webserver signs each request as the user it belongs to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from backendai.common.errors import (
    AuthenticationFailed,
    InternalError,
    InvalidRequest,
    NotFound,
    PlatformError,
)
from backendai.common.signing import signed_headers
from backendai.common.streaming import abort_response
from backendai.common.websockets import MAX_FRAME_SIZE, relay
from backendai.webserver.context import WebserverContext, context_of, current_login
from backendai.webserver.sessions import LoginSession

# Hop-by-hop and recomputed headers never travel through the proxy.
_SKIP_RESPONSE_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "server",
        "date",
    }
)


def _manager_url(ctx: WebserverContext, rel_url: str) -> URL:
    base = URL(ctx.settings.manager_url)
    return URL(str(base).rstrip("/") + rel_url, encoded=True)


def _signing_headers(
    ctx: WebserverContext, session: LoginSession, method: str, rel_url: str, content_type: str
) -> dict[str, str]:
    base = URL(ctx.settings.manager_url)
    prefix = base.raw_path.rstrip("/")
    return signed_headers(
        session.access_key,
        session.secret_key,
        method=method,
        rel_url=prefix + rel_url,
        host=f"{base.raw_host}:{base.port}" if base.port else str(base.raw_host),
        content_type=content_type,
    )


@dataclass(frozen=True)
class ManagerAnswer:
    status: int
    body: Any  # the decoded JSON, None when there was none
    retry_after: int | None  # the manager's Retry-After, in seconds


async def manager_json(
    ctx: WebserverContext,
    method: str,
    rel_url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> ManagerAnswer:
    """An unsigned call to one of the manager's public routes."""
    try:
        async with ctx.http.request(
            method, _manager_url(ctx, rel_url), json=body, headers=headers
        ) as resp:
            text = await resp.text()
            retry = resp.headers.get("Retry-After", "")
            retry_after = int(retry) if retry.isdigit() else None
            try:
                decoded = json.loads(text) if text else None
            except json.JSONDecodeError:
                decoded = None
            return ManagerAnswer(resp.status, decoded, retry_after)
    except aiohttp.ClientError as e:
        raise InternalError(f"The manager at {ctx.settings.manager_url} is unreachable: {e}") from e


async def version(request: web.Request) -> web.Response:
    """GET /func/: the version probe, answered for the manager without a login."""
    answer = await manager_json(context_of(request), "GET", "/")
    return web.json_response(answer.body, status=answer.status)


async def forward(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    _, session = current_login(request)
    if session is None:
        raise AuthenticationFailed(
            "You are not logged in, or your login expired: run `backend.ai login` again."
        )
    rel_url = request.raw_path[len("/func") :] or "/"
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await _forward_websocket(request, ctx, session, rel_url)
    body = await request.read() if request.body_exists else b""
    content_type = request.headers.get("Content-Type")
    bare_type = request.content_type if content_type else "application/octet-stream"
    headers = _signing_headers(ctx, session, request.method, rel_url, bare_type)
    if content_type:
        headers["Content-Type"] = content_type
    try:
        upstream = await ctx.http.request(
            request.method,
            _manager_url(ctx, rel_url),
            data=body or None,
            headers=headers,
            auto_decompress=False,
            allow_redirects=False,
        )
    except aiohttp.ClientError as e:
        raise InternalError(f"The manager at {ctx.settings.manager_url} is unreachable: {e}") from e
    async with upstream:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in upstream.headers.items():
            if name.lower() not in _SKIP_RESPONSE_HEADERS:
                response.headers.add(name, value)
        if upstream.headers.get("Content-Encoding"):
            response.headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
        except BaseException:
            # The manager's answer broke off (a failed download): cut ours too, or the client
            # would wait on a body that never ends.
            abort_response(request)
            raise
        return response


async def _forward_websocket(
    request: web.Request, ctx: WebserverContext, session: LoginSession, rel_url: str
) -> web.StreamResponse:
    """Relay a WebSocket (execute, PTY, app tunnels) to the manager, frame by frame."""
    headers = _signing_headers(ctx, session, "GET", rel_url, "application/octet-stream")
    try:
        upstream = await ctx.http.ws_connect(
            _manager_url(ctx, rel_url), headers=headers, max_msg_size=MAX_FRAME_SIZE, autoping=True
        )
    except aiohttp.WSServerHandshakeError as e:
        # The manager refused (e.g. no such session): pass its status on as a problem.
        raise _refused(e.status, e.message) from e
    except aiohttp.ClientError as e:
        raise InternalError(f"The manager at {ctx.settings.manager_url} is unreachable: {e}") from e
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_SIZE)
    await ws.prepare(request)

    try:
        await relay(ws, upstream)
    finally:
        await upstream.close()
        await ws.close()
    return ws


def _refused(status: int, message: str) -> PlatformError:
    if status == 404:
        return NotFound(f"The manager refused the stream: {message}")
    if status in (401, 403):
        return AuthenticationFailed(f"The manager refused the stream: {message}")
    return InvalidRequest(f"The manager refused the stream (HTTP {status}): {message}")


def setup(app: web.Application) -> None:
    app.router.add_get("/func", version)
    app.router.add_get("/func/", version)
    app.router.add_route("*", "/func/{tail:.*}", forward)
