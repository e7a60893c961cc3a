"""``/folders``: virtual folders, as Backend.AI's client 20.9.9 calls them (JSON bodies on GET
and DELETE too). See docs/vfolders.md for the route table; the files and transfer routes are
in ``vfolder_files``, the sharing routes in ``vfolder_sharing``."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field, field_validator

from backendai.common.statuses import VFolderPermission, VFolderUsageMode
from backendai.manager.api import vfolder_files, vfolder_sharing
from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import parse_params
from backendai.manager.context import context_of
from backendai.manager.services.vfolder_rules import parse_quota
from backendai.manager.services.vfolders import CreateSpec

NAME_MAX = 1024  # longer than any name: the service says why a name is refused


def folder_ref(request: web.Request) -> str:
    return request.match_info["name"]


class CreateBody(BaseModel):
    name: str = Field(max_length=NAME_MAX)
    host: str | None = Field(default=None, max_length=128)
    group: str | None = Field(default=None, max_length=64)
    group_id: str | None = Field(default=None, max_length=64)
    usage_mode: VFolderUsageMode = VFolderUsageMode.GENERAL
    permission: VFolderPermission = VFolderPermission.READ_WRITE
    quota: str | int | None = Field(default=None)
    cloneable: bool = False
    unmanaged_path: str | None = Field(default=None, max_length=512)

    @field_validator("quota")
    @classmethod
    def _quota(cls, v: str | int | None) -> str | int | None:
        if isinstance(v, str) and len(v) > 32:
            raise ValueError("a quota is a size like 10g or a number of bytes")
        return v


class ListBody(BaseModel):
    all: bool = False
    trash: bool = False
    group_id: str | None = Field(default=None, max_length=64)


class IdBody(BaseModel):
    id: str = Field(max_length=64)


class RenameBody(BaseModel):
    new_name: str = Field(max_length=NAME_MAX)


class OptionsBody(BaseModel):
    cloneable: bool | None = None
    permission: VFolderPermission | None = None


class CloneBody(BaseModel):
    target_name: str = Field(max_length=NAME_MAX)
    target_host: str | None = Field(default=None, max_length=128)
    usage_mode: VFolderUsageMode = VFolderUsageMode.GENERAL
    permission: VFolderPermission = VFolderPermission.READ_WRITE
    cloneable: bool = False


async def list_hosts(request: web.Request) -> web.Response:
    return web.json_response(await context_of(request).vfolders.hosts(principal_of(request)))


async def list_all_hosts(request: web.Request) -> web.Response:
    return web.json_response(await context_of(request).vfolders.all_hosts(principal_of(request)))


async def allowed_types(request: web.Request) -> web.Response:
    principal_of(request)
    return web.json_response(["user", "group"])


async def create(request: web.Request) -> web.Response:
    b = await parse_params(request, CreateBody)
    spec = CreateSpec(
        name=b.name, host=b.host, group=b.group or b.group_id, usage_mode=b.usage_mode,
        permission=b.permission, quota=parse_quota(b.quota), cloneable=b.cloneable,
        unmanaged_path=b.unmanaged_path,
    )  # fmt: skip
    folder = await context_of(request).vfolders.create(principal_of(request), spec)
    return web.json_response(folder, status=201)


async def list_folders(request: web.Request) -> web.Response:
    b = await parse_params(request, ListBody)
    found = await context_of(request).vfolders.list(
        principal_of(request), all_=b.all, trash=b.trash, group_id=b.group_id
    )
    return web.json_response(found)


async def info(request: web.Request) -> web.Response:
    folder = await context_of(request).vfolders.info(principal_of(request), folder_ref(request))
    return web.json_response(folder)


async def delete(request: web.Request) -> web.Response:
    await context_of(request).vfolders.delete(principal_of(request), folder_ref(request))
    return web.Response(status=204)


async def delete_by_id(request: web.Request) -> web.Response:
    """``DELETE /folders`` with ``{"id"}`` (the SDK's ``VFolder.delete_by_id``)."""
    b = await parse_params(request, IdBody)
    await context_of(request).vfolders.delete(principal_of(request), b.id)
    return web.Response(status=204)


async def restore(request: web.Request) -> web.Response:
    folder = await context_of(request).vfolders.restore(principal_of(request), folder_ref(request))
    return web.json_response(folder)


async def purge(request: web.Request) -> web.Response:
    await context_of(request).vfolders.purge(principal_of(request), folder_ref(request))
    return web.Response(status=204)


async def rename(request: web.Request) -> web.Response:
    b = await parse_params(request, RenameBody)
    ctx, who = context_of(request), principal_of(request)
    await ctx.vfolders.rename(who, folder_ref(request), b.new_name)
    return web.json_response({}, status=201)


async def update_options(request: web.Request) -> web.Response:
    b = await parse_params(request, OptionsBody)
    await context_of(request).vfolders.update_options(
        principal_of(request), folder_ref(request), cloneable=b.cloneable, permission=b.permission
    )
    return web.json_response({}, status=201)


async def clone(request: web.Request) -> web.Response:
    b = await parse_params(request, CloneBody)
    folder = await context_of(request).vfolders.clone(
        principal_of(request), folder_ref(request), b.target_name, b.target_host,
        b.usage_mode, b.permission, b.cloneable,
    )  # fmt: skip
    return web.json_response(folder, status=201)


def setup(app: web.Application) -> None:
    r = app.router
    # The fixed paths first: they would otherwise match /folders/{name}/...
    r.add_get("/folders/_/hosts", list_hosts)
    r.add_get("/folders/_/all_hosts", list_all_hosts)
    r.add_get("/folders/_/allowed_types", allowed_types)
    vfolder_sharing.setup_invitations(app)
    r.add_post("/folders", create)
    r.add_get("/folders", list_folders)
    r.add_delete("/folders", delete_by_id)
    r.add_get("/folders/{name}", info)
    r.add_delete("/folders/{name}", delete)
    r.add_post("/folders/{name}/restore", restore)
    r.add_delete("/folders/{name}/purge", purge)
    r.add_post("/folders/{name}/rename", rename)
    r.add_post("/folders/{name}/update-options", update_options)
    r.add_post("/folders/{name}/clone", clone)
    vfolder_files.setup(app)
    vfolder_sharing.setup(app)
