"""The storage process's HTTP app: the manager's ``/v1/...`` routes and the clients' transfers.

Manager routes are POSTs of ``storage_protocol`` models, allowed only with the shared token in
``X-BackendAI-Storage-Token`` (compared in constant time). Client routes (``/upload``,
``/download``) carry no credential but the signed transfer token of their ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import resource
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, ValidationError

from backendai.common import storage_protocol as sp
from backendai.common.errors import AuthenticationFailed, InvalidRequest
from backendai.common.problems import problem_middleware
from backendai.storage import downloads, uploads
from backendai.storage.context import CONTEXT, StorageContext
from backendai.storage.settings import StorageSettings
from backendai.storage.tokens import TokenSigner
from backendai.storage.volumes import load_volume

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
EXPIRE_INTERVAL_S = 600.0


async def _parse(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.read() or b"{}")
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in e.errors()
        )
        raise InvalidRequest(f"Invalid request body: {problems}.") from e


def _json(model: BaseModel | None = None) -> web.Response:
    return web.json_response(text=model.model_dump_json() if model is not None else "{}")


def _token_middleware(expected: bytes) -> Middleware:
    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/v1/"):
            given = request.headers.get(sp.STORAGE_TOKEN_HEADER, "").encode()
            if not hmac.compare_digest(given, expected):
                raise AuthenticationFailed(f"Missing or wrong {sp.STORAGE_TOKEN_HEADER} header.")
        return await handler(request)

    return check_token


# -- manager-facing routes -----------------------------------------------------------------


async def volumes(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    infos = [await ctx.run(v.info) for v in ctx.volumes.values()]
    return _json(sp.VolumeList(volumes=infos))


async def folder_create(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    req = await _parse(request, sp.FolderCreate)
    await ctx.run(ctx.volume(req.volume).create_folder, req.vfid)
    return _json(sp.FolderUsage(file_count=0, used_bytes=0))


async def folder_delete(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    req = await _parse(request, sp.FolderRef)
    await ctx.run(ctx.volume(req.volume).delete_folder, req.vfid)
    return _json()


async def folder_clone(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    req = await _parse(request, sp.FolderClone)
    src, dst = ctx.volume(req.src.volume), ctx.volume(req.dst.volume)
    if dst.quota:
        size = (await ctx.run(src.folder_usage, req.src.vfid)).used_bytes
        await ctx.usage.check(dst, req.dst.vfid, 0, size, fresh=True)
    await ctx.run(src.clone_folder, req.src.vfid, dst, req.dst.vfid)
    return _json(await ctx.run(dst.folder_usage, req.dst.vfid))


async def folder_usage(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    req = await _parse(request, sp.FolderRef)
    return _json(await ctx.run(ctx.volume(req.volume).folder_usage, req.vfid))


async def file_list(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    req = await _parse(request, sp.ListRequest)
    return _json(await ctx.run(ctx.volume(req.volume).list_files, req.vfid, req.path))


async def file_mkdir(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    req = await _parse(request, sp.MkdirRequest)
    volume = ctx.volume(req.volume)
    await ctx.run(volume.mkdir, req.vfid, req.path, req.parents, req.exist_ok)
    return _json()


async def file_delete(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    req = await _parse(request, sp.DeleteFilesRequest)
    await ctx.run(ctx.volume(req.volume).delete_files, req.vfid, req.paths, req.recursive)
    return _json()


async def file_move(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    req = await _parse(request, sp.MoveRequest)
    await ctx.run(ctx.volume(req.volume).move, req.vfid, req.src, req.dst)
    return _json()


async def file_copy(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    req = await _parse(request, sp.CopyRequest)
    volume = ctx.volume(req.volume)
    if req.quota_bytes or volume.quota:
        size = await ctx.run(volume.path_usage, req.vfid, req.src)
        await ctx.usage.check(volume, req.vfid, req.quota_bytes, size, fresh=True)
    await ctx.run(volume.copy, req.vfid, req.src, req.dst)
    return _json()


async def file_upload(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    req = await _parse(request, sp.UploadRequest)
    return _json(await uploads.issue_ticket(ctx, request, req))


async def file_download(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    req = await _parse(request, sp.DownloadRequest)
    return _json(await downloads.issue_ticket(ctx, request, req))


# -- the app -------------------------------------------------------------------------------


def _raise_open_file_limit() -> None:
    """Deep trees are walked with one open descriptor per level: allow as many as we may."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _expire_uploads(ctx: StorageContext) -> None:
    """Drop the data of uploads whose tickets expired (a client that never came back)."""
    while True:
        for volume in ctx.volumes.values():
            try:
                removed = await ctx.run(volume.expire_uploads, float(ctx.settings.upload_expiry))
                if removed:
                    log.info("removed %d expired uploads from volume %s", removed, volume.name)
            except Exception:
                log.exception("could not expire the uploads of volume %s", volume.name)
        await asyncio.sleep(EXPIRE_INTERVAL_S)


def create_app(settings: StorageSettings) -> web.Application:
    _raise_open_file_limit()
    owner = (settings.file_uid, settings.file_gid)
    ctx = StorageContext(
        settings=settings,
        volumes={name: load_volume(name, vs, owner) for name, vs in settings.volumes.items()},
        signer=TokenSigner(settings.storage_token()),
        executor=ThreadPoolExecutor(settings.io_workers, thread_name_prefix="storage-io"),
    )
    app = web.Application(
        middlewares=[problem_middleware, _token_middleware(settings.storage_token().encode())],
        handler_args={"read_bufsize": uploads.READ_BUFSIZE},
    )
    app[CONTEXT] = ctx
    for route, handler in [
        (sp.ROUTE_VOLUMES, volumes),
        (sp.ROUTE_FOLDER_CREATE, folder_create),
        (sp.ROUTE_FOLDER_DELETE, folder_delete),
        (sp.ROUTE_FOLDER_CLONE, folder_clone),
        (sp.ROUTE_FOLDER_USAGE, folder_usage),
        (sp.ROUTE_FILE_LIST, file_list),
        (sp.ROUTE_FILE_MKDIR, file_mkdir),
        (sp.ROUTE_FILE_DELETE, file_delete),
        (sp.ROUTE_FILE_MOVE, file_move),
        (sp.ROUTE_FILE_COPY, file_copy),
        (sp.ROUTE_FILE_UPLOAD, file_upload),
        (sp.ROUTE_FILE_DOWNLOAD, file_download),
    ]:
        app.router.add_post(route, handler)
    app.router.add_route("PATCH", sp.ROUTE_UPLOAD, uploads.patch)
    app.router.add_route("HEAD", sp.ROUTE_UPLOAD, uploads.head)
    app.router.add_route("OPTIONS", sp.ROUTE_UPLOAD, uploads.options)
    app.router.add_get(sp.ROUTE_DOWNLOAD, downloads.download)  # and HEAD

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        expirer = asyncio.create_task(_expire_uploads(ctx))
        yield
        expirer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await expirer
        ctx.executor.shutdown(wait=True, cancel_futures=True)

    app.cleanup_ctx.append(lifecycle)
    return app
