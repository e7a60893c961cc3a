"""``/user-config/dotfiles``, ``/group-config/dotfiles``, ``/domain-config/dotfiles``.

As Backend.AI's client sends them: JSON bodies on POST and PATCH, query strings on GET and
DELETE (its list call spells the owner ``onwer_access_key``; both spellings are read).
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from backendai.common.dotfiles import MAX_DATA
from backendai.common.errors import InvalidRequest
from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import parse_params
from backendai.manager.context import context_of
from backendai.manager.services.dotfiles import OwnerRef, check_scope_params


class Scoped(BaseModel):
    owner_access_key: str | None = Field(default=None, max_length=20)
    onwer_access_key: str | None = Field(default=None, max_length=20)  # the client's typo
    group: str | None = Field(default=None, max_length=64)
    domain: str | None = Field(default=None, max_length=64)

    def ref(self, scope: str) -> OwnerRef:
        ref = OwnerRef(
            owner_access_key=self.owner_access_key or self.onwer_access_key,
            group=self.group if scope == "group" else None,
            domain=self.domain if scope in ("group", "domain") else None,
        )
        check_scope_params(ref)
        return ref


class PathParams(Scoped):
    path: str | None = Field(default=None, max_length=1024)


class Content(Scoped):
    path: str = Field(max_length=1024)
    data: str = Field(max_length=MAX_DATA)
    permission: str = Field(default="644", max_length=8)


def _scope(request: web.Request) -> str:
    """``user``, ``group`` or ``domain``, from ``/<scope>-config/dotfiles``."""
    return request.path.strip("/").split("-", 1)[0]


async def read(request: web.Request) -> web.Response:
    """GET: one dotfile with ``path``, else all of the owner's."""
    params = await parse_params(request, PathParams)
    ctx, principal, ref = context_of(request), principal_of(request), params.ref(_scope(request))
    if params.path:
        return web.json_response(await ctx.dotfiles.get(principal, ref, params.path))
    return web.json_response(await ctx.dotfiles.list(principal, ref))


async def create(request: web.Request) -> web.Response:
    p = await parse_params(request, Content)
    await context_of(request).dotfiles.create(
        principal_of(request), p.ref(_scope(request)), p.path, p.data, p.permission
    )
    return web.json_response({})


async def update(request: web.Request) -> web.Response:
    p = await parse_params(request, Content)
    await context_of(request).dotfiles.update(
        principal_of(request), p.ref(_scope(request)), p.path, p.data, p.permission
    )
    return web.json_response({})


async def delete(request: web.Request) -> web.Response:
    p = await parse_params(request, PathParams)
    if not p.path:
        raise InvalidRequest("Name the dotfile to delete (path).")
    await context_of(request).dotfiles.delete(principal_of(request), p.ref(_scope(request)), p.path)
    return web.json_response({"success": True})


def setup(app: web.Application) -> None:
    for scope in ("user", "group", "domain"):
        route = f"/{scope}-config/dotfiles"
        app.router.add_get(route, read)
        app.router.add_post(route, create)
        app.router.add_patch(route, update)
        app.router.add_delete(route, delete)
