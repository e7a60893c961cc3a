"""The version probe and the announcement every client command asks for."""

from __future__ import annotations

from aiohttp import web

from backendai import __version__
from backendai.common.signing import API_VERSION
from backendai.manager.api.auth import public
from backendai.manager.context import context_of


@public
async def hello(request: web.Request) -> web.Response:
    """GET /: answered signed or not; the client negotiates its API version from it."""
    return web.json_response({"version": API_VERSION, "manager": __version__})


async def announcement(request: web.Request) -> web.Response:
    message = context_of(request).settings.announcement
    return web.json_response({"enabled": bool(message), "message": message})


def setup(app: web.Application) -> None:
    app.router.add_get("/", hello)
    app.router.add_get("/manager/announcement", announcement)
