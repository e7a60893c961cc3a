"""``/session``: create or reuse, terminate, restart, describe, and move files (API_CONTRACT §2)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import check_text, parse_params
from backendai.manager.api.relay import relay
from backendai.manager.api.uploads import read_uploads
from backendai.manager.authz import Action
from backendai.manager.context import context_of
from backendai.manager.db.models import Session
from backendai.manager.services.session_lookup import session_for
from backendai.manager.services.sessions import CreateSessionRequest

_TRUE = ("1", "true", "yes", "on")


async def session_from_request(
    request: web.Request, *, include_ended: bool = False, action: Action = Action.USE
) -> Session:
    """The session ``{name}`` names (name, UUID or UUID prefix), of the caller or of
    ``?owner_access_key=`` where the authorization table lets the caller ``action`` it."""
    ctx = context_of(request)
    owner = request.query.get("owner_access_key") or request.query.get("ownerAccessKey")
    ref = request.match_info["name"]
    check_text({"name": ref, "owner_access_key": owner})  # a NUL here failed PostgreSQL: 500
    return await session_for(
        ctx.db, principal_of(request), ref, owner, action, include_ended=include_ended
    )


async def create(request: web.Request) -> web.Response:
    params = await parse_params(request, CreateSessionRequest)
    if params.count > 1:
        batch = await context_of(request).sessions.create_batch(principal_of(request), params)
        return web.json_response({"sessions": [r.wire() for r in batch]}, status=201)
    result = await context_of(request).sessions.create(principal_of(request), params)
    return web.json_response(result.wire(), status=201 if result.created else 200)


async def terminate(request: web.Request) -> web.Response:
    forced = request.query.get("forced", "").lower() in _TRUE
    action = Action.FORCE_TERMINATE if forced else Action.TERMINATE
    s = await session_from_request(request, action=action)
    # Answered once the session is TERMINATING; the containers go in the background.
    stats = await context_of(request).control.terminate(s.id, forced=forced, wait=False)
    return web.json_response({"stats": stats})


async def restart(request: web.Request) -> web.Response:
    s = await session_from_request(request)
    await context_of(request).control.restart(s.id)
    return web.Response(status=204)


async def info(request: web.Request) -> web.Response:
    s = await session_from_request(request, include_ended=True, action=Action.READ)
    return web.json_response(await context_of(request).sessions.info(s))


async def upload(request: web.Request) -> web.Response:
    s = await session_from_request(request)
    files = await read_uploads(request)
    await context_of(request).kernels.upload(s, files)
    return web.Response(status=204)


class DownloadParams(BaseModel):
    files: list[str] = Field(description="Paths relative to /home/work.")


async def download(request: web.Request) -> web.StreamResponse:
    params = await parse_params(request, DownloadParams)
    s = await session_from_request(request)
    async with context_of(request).kernels.download(s, params.files) as relayed:
        return await relay(request, relayed)


class ListFilesParams(BaseModel):
    path: str = "."


async def list_files(request: web.Request) -> web.Response:
    params = await parse_params(request, ListFilesParams)
    s = await session_from_request(request)
    return web.json_response(await context_of(request).kernels.list_files(s, params.path))


async def logs(request: web.Request) -> web.Response:
    s = await session_from_request(request, include_ended=True)
    text = await context_of(request).kernels.logs(s)
    return web.json_response({"result": {"logs": text}})


def setup(app: web.Application) -> None:
    app.router.add_post("/session", create)
    app.router.add_get("/session/{name}", info)
    app.router.add_patch("/session/{name}", restart)
    app.router.add_delete("/session/{name}", terminate)
    app.router.add_post("/session/{name}/upload", upload)
    app.router.add_get("/session/{name}/download", download)
    app.router.add_get("/session/{name}/files", list_files)
    app.router.add_get("/session/{name}/logs", logs)
