"""``/session``: create or reuse, terminate, restart, describe, and move files (API_CONTRACT §2)."""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import BodyPartReader, hdrs, web
from pydantic import BaseModel, Field

from backendai.common.errors import InvalidRequest, PermissionDenied
from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import parse_params
from backendai.manager.context import context_of
from backendai.manager.db.models import Session
from backendai.manager.services.kernel_access import (
    MAX_UPLOAD_FILE_SIZE,
    check_upload_count,
    check_upload_file,
)
from backendai.manager.services.session_lookup import find_session, owner_access_key
from backendai.manager.services.sessions import CreateSessionRequest

_TRUE = ("1", "true", "yes", "on")


async def session_from_request(request: web.Request, *, include_ended: bool = False) -> Session:
    """The session ``{name}`` names (name, UUID or UUID prefix), of the caller or, for admins,
    of ``?owner_access_key=``."""
    ctx = context_of(request)
    owner = request.query.get("owner_access_key") or request.query.get("ownerAccessKey")
    async with ctx.db() as db:
        access_key = await owner_access_key(db, principal_of(request), owner)
        return await find_session(
            db, access_key, request.match_info["name"], include_ended=include_ended
        )


async def create(request: web.Request) -> web.Response:
    params = await parse_params(request, CreateSessionRequest)
    result = await context_of(request).sessions.create(principal_of(request), params)
    return web.json_response(result.wire(), status=201 if result.created else 200)


async def terminate(request: web.Request) -> web.Response:
    forced = request.query.get("forced", "").lower() in _TRUE
    if forced and not principal_of(request).is_domain_admin:
        raise PermissionDenied("Only admins may force a termination.")
    s = await session_from_request(request)
    # Answered once the session is TERMINATING; the containers go in the background.
    stats = await context_of(request).control.terminate(s.id, forced=forced, wait=False)
    return web.json_response({"stats": stats})


async def restart(request: web.Request) -> web.Response:
    s = await session_from_request(request)
    await context_of(request).control.restart(s.id)
    return web.Response(status=204)


async def info(request: web.Request) -> web.Response:
    s = await session_from_request(request, include_ended=True)
    return web.json_response(await context_of(request).sessions.info(s))


async def upload(request: web.Request) -> web.Response:
    if not request.content_type.startswith("multipart/"):
        raise InvalidRequest("Upload files as multipart/form-data, one field named src per file.")
    s = await session_from_request(request)
    files: list[tuple[str, bytes]] = []
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader) or part.name != "src":
            continue
        check_upload_count(len(files) + 1)
        name, data = _filename(part), bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            if len(data) >= MAX_UPLOAD_FILE_SIZE:
                check_upload_file(name, len(data))
        files.append((name, bytes(data)))
    await context_of(request).kernels.upload(s, files)
    return web.Response(status=204)


def _filename(part: BodyPartReader) -> str:
    """The part's file name. aiohttp decodes ``filename*`` (sent by Backend.AI's client); a
    plain ``filename`` from newer aiohttp clients arrives percent-encoded."""
    name = part.filename or ""
    if "filename*" not in part.headers.get(hdrs.CONTENT_DISPOSITION, ""):
        name = unquote(name)
    return name


class DownloadParams(BaseModel):
    files: list[str] = Field(description="Paths relative to /home/work.")


async def download(request: web.Request) -> web.Response:
    params = await parse_params(request, DownloadParams)
    s = await session_from_request(request)
    relayed = await context_of(request).kernels.download(s, params.files)
    return web.Response(body=relayed.body, headers={"Content-Type": relayed.content_type})


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
