"""What Backend.AI's enterprise edition has and this open platform does not: a license to
show (``admin show-license``) and agent watchers (``admin watcher ...``). Both answer 404
``not-available`` with a message that says so, in words the official client prints."""

from __future__ import annotations

from aiohttp import web

from backendai.common.errors import NotAvailable
from backendai.manager.api.auth import principal_of


async def license_(request: web.Request) -> web.Response:
    principal_of(request)
    raise NotAvailable(
        "This is the open edition of the platform: it has no license to show, and needs none."
    )


async def watcher(request: web.Request) -> web.Response:
    principal_of(request)
    raise NotAvailable(
        "Agent watching is not available on this platform: there is no watcher process beside "
        "the agents. Restart an agent with its own service manager (e.g. systemctl) instead."
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/license", license_)
    app.router.add_get("/resource/watcher", watcher)
    for op in ("start", "stop", "restart"):
        app.router.add_post(f"/resource/watcher/agent/{op}", watcher)
