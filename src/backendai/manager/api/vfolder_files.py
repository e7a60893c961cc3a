"""``/folders/{name}/...`` for files inside a folder and the transfer tickets (tus upload,
download) with which the client talks to the storage process directly."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from backendai.common.storage_protocol import MAX_PATH_LENGTH
from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import parse_params
from backendai.manager.context import context_of

PATH = Field(max_length=MAX_PATH_LENGTH)


class ListBody(BaseModel):
    path: str = Field(default=".", max_length=MAX_PATH_LENGTH)


class MkdirBody(BaseModel):
    path: str = PATH
    parents: bool = True
    exist_ok: bool = False


class DeleteBody(BaseModel):
    files: list[str] = Field(min_length=1, max_length=1000)
    recursive: bool = False


class RenameFileBody(BaseModel):
    target_path: str = PATH
    new_name: str = PATH


class MoveBody(BaseModel):
    src: str = PATH
    dst: str = PATH


class UploadBody(BaseModel):
    path: str = PATH
    size: int = Field(ge=0, le=2**62)


class DownloadBody(BaseModel):
    path: str = PATH


def _ref(request: web.Request) -> str:
    return request.match_info["name"]


async def ls(request: web.Request) -> web.Response:
    b = await parse_params(request, ListBody)
    ctx, who = context_of(request), principal_of(request)
    result = await ctx.vfolder_files.ls(who, _ref(request), b.path)
    return web.json_response(result)


async def mkdir(request: web.Request) -> web.Response:
    b = await parse_params(request, MkdirBody)
    await context_of(request).vfolder_files.mkdir(
        principal_of(request), _ref(request), b.path, b.parents, b.exist_ok
    )
    return web.json_response({}, status=201)


async def delete_files(request: web.Request) -> web.Response:
    b = await parse_params(request, DeleteBody)
    await context_of(request).vfolder_files.delete_files(
        principal_of(request), _ref(request), b.files, b.recursive
    )
    return web.json_response({})


async def rename_file(request: web.Request) -> web.Response:
    b = await parse_params(request, RenameFileBody)
    await context_of(request).vfolder_files.rename_file(
        principal_of(request), _ref(request), b.target_path, b.new_name
    )
    return web.json_response({})


async def move_file(request: web.Request) -> web.Response:
    b = await parse_params(request, MoveBody)
    await context_of(request).vfolder_files.move_file(
        principal_of(request), _ref(request), b.src, b.dst
    )
    return web.json_response({})


async def copy_file(request: web.Request) -> web.Response:
    b = await parse_params(request, MoveBody)
    await context_of(request).vfolder_files.copy_file(
        principal_of(request), _ref(request), b.src, b.dst
    )
    return web.json_response({})


async def request_upload(request: web.Request) -> web.Response:
    b = await parse_params(request, UploadBody)
    ticket = await context_of(request).vfolder_files.request_upload(
        principal_of(request), _ref(request), b.path, b.size
    )
    return web.json_response(ticket.model_dump(mode="json"))


async def request_download(request: web.Request) -> web.Response:
    b = await parse_params(request, DownloadBody)
    ticket = await context_of(request).vfolder_files.request_download(
        principal_of(request), _ref(request), b.path
    )
    return web.json_response(ticket.model_dump(mode="json"))


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/folders/{name}/files", ls)
    r.add_post("/folders/{name}/mkdir", mkdir)
    for spelling in ("delete_files", "delete-files"):
        r.add_delete(f"/folders/{{name}}/{spelling}", delete_files)
    for spelling in ("rename_file", "rename-file"):
        r.add_post(f"/folders/{{name}}/{spelling}", rename_file)
    for spelling in ("move_file", "move-file"):
        r.add_post(f"/folders/{{name}}/{spelling}", move_file)
    for spelling in ("copy_file", "copy-file"):
        r.add_post(f"/folders/{{name}}/{spelling}", copy_file)
    r.add_post("/folders/{name}/request-upload", request_upload)
    r.add_post("/folders/{name}/request-download", request_download)
