"""The version probe (the announcement is ``manager_status``'s)."""

from __future__ import annotations

from aiohttp import web

from backendai import __version__
from backendai.common.signing import API_VERSION
from backendai.manager.api.auth import public


@public
async def hello(request: web.Request) -> web.Response:
    """GET /: answered signed or not; the client negotiates its API version from it."""
    return web.json_response({"version": API_VERSION, "manager": __version__})


def setup(app: web.Application) -> None:
    app.router.add_get("/", hello)
