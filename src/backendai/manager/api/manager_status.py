"""``/manager/status`` (``manager status/freeze/unfreeze``) and ``/manager/announcement``."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field

from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import parse_params
from backendai.manager.context import context_of
from backendai.manager.services.manager_status import ManagerState


class StatusUpdate(BaseModel):
    status: Literal["running", "frozen"]
    force_kill: bool = Field(default=False, description="Freeze and end every session at once.")


class AnnouncementUpdate(BaseModel):
    enabled: bool = True
    message: str | None = Field(default=None, max_length=65536)


async def status(request: web.Request) -> web.Response:
    """GET: ``{"status": "running"|"frozen", "active_sessions": n}``."""
    return web.json_response(await context_of(request).manager_status.status(principal_of(request)))


async def update_status(request: web.Request) -> web.Response:
    params = await parse_params(request, StatusUpdate)
    await context_of(request).manager_status.set_state(
        principal_of(request), ManagerState(params.status), params.force_kill
    )
    return web.Response(status=204)


async def announcement(request: web.Request) -> web.Response:
    return web.json_response(
        await context_of(request).manager_status.announcement(principal_of(request))
    )


async def update_announcement(request: web.Request) -> web.Response:
    params = await parse_params(request, AnnouncementUpdate)
    await context_of(request).manager_status.announce(
        principal_of(request), params.enabled, params.message
    )
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    app.router.add_get("/manager/status", status)
    app.router.add_put("/manager/status", update_status)
    app.router.add_get("/manager/announcement", announcement)
    app.router.add_post("/manager/announcement", update_announcement)
