"""``/config/get|set|delete``: the shared configuration (``admin etcd``), superadmins only."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import parse_params
from backendai.manager.context import context_of


class KeyParams(BaseModel):
    key: str = Field(min_length=1, max_length=512)
    prefix: bool = False


class SetParams(BaseModel):
    key: str = Field(min_length=1, max_length=512)
    value: Any = Field(description="A string, another JSON value, or a mapping of sub-keys.")


async def get(request: web.Request) -> web.Response:
    params = await parse_params(request, KeyParams)
    result = await context_of(request).shared_config.get(
        principal_of(request), params.key, params.prefix
    )
    return web.json_response({"result": result})


async def set_(request: web.Request) -> web.Response:
    params = await parse_params(request, SetParams)
    await context_of(request).shared_config.set(principal_of(request), params.key, params.value)
    return web.json_response({"result": "ok"})


async def delete(request: web.Request) -> web.Response:
    params = await parse_params(request, KeyParams)
    await context_of(request).shared_config.delete(principal_of(request), params.key, params.prefix)
    return web.json_response({"result": "ok"})


def setup(app: web.Application) -> None:
    app.router.add_post("/config/get", get)
    app.router.add_post("/config/set", set_)
    app.router.add_post("/config/delete", delete)
