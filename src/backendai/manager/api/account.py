"""POST /auth/update-password: a user changes its own password (``update-password``).

Backend.AI's client sends it through the webserver (session mode); the answer is ``{}``.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import parse_params
from backendai.manager.context import context_of
from backendai.manager.services.identity_users import UserService


class UpdatePasswordParams(BaseModel):
    old_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)
    new_password2: str = Field(max_length=256)


async def update_password(request: web.Request) -> web.Response:
    params = await parse_params(request, UpdatePasswordParams)
    ctx = context_of(request)
    await UserService(ctx.db, ctx.auth.passwords).change_password(
        principal_of(request), params.old_password, params.new_password, params.new_password2
    )
    return web.json_response({})


def setup(app: web.Application) -> None:
    app.router.add_post("/auth/update-password", update_password)
