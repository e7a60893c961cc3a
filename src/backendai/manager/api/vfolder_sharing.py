"""``/folders/...`` for sharing: invitations, direct shares, leaving a shared folder."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from backendai.common.statuses import VFolderPermission
from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import parse_params
from backendai.manager.context import context_of

EMAIL = 128
MAX_EMAILS = 100


class InviteBody(BaseModel):
    perm: VFolderPermission = VFolderPermission.READ_WRITE
    user_ids: list[str] = Field(max_length=MAX_EMAILS)


class InvitationBody(BaseModel):
    inv_id: str = Field(max_length=64)


class ShareBody(BaseModel):
    permission: VFolderPermission = VFolderPermission.READ_WRITE
    emails: list[str] = Field(max_length=MAX_EMAILS)


class UnshareBody(BaseModel):
    emails: list[str] = Field(max_length=MAX_EMAILS)


def _ref(request: web.Request) -> str:
    return request.match_info["name"]


def _cut(emails: list[str]) -> list[str]:
    return [e[:EMAIL] for e in emails]


async def invite(request: web.Request) -> web.Response:
    b = await parse_params(request, InviteBody)
    invited = await context_of(request).vfolder_sharing.invite(
        principal_of(request), _ref(request), b.perm, _cut(b.user_ids)
    )
    return web.json_response({"invited_ids": invited}, status=201)


async def invitations(request: web.Request) -> web.Response:
    found = await context_of(request).vfolder_sharing.invitations(principal_of(request))
    return web.json_response({"invitations": found})


async def sent_invitations(request: web.Request) -> web.Response:
    found = await context_of(request).vfolder_sharing.invitations(principal_of(request), sent=True)
    return web.json_response({"invitations": found})


async def accept(request: web.Request) -> web.Response:
    b = await parse_params(request, InvitationBody)
    await context_of(request).vfolder_sharing.accept(principal_of(request), b.inv_id)
    return web.json_response({})


async def delete_invitation(request: web.Request) -> web.Response:
    b = await parse_params(request, InvitationBody)
    await context_of(request).vfolder_sharing.delete_invitation(principal_of(request), b.inv_id)
    return web.json_response({})


async def share(request: web.Request) -> web.Response:
    b = await parse_params(request, ShareBody)
    done = await context_of(request).vfolder_sharing.share(
        principal_of(request), _ref(request), b.permission, _cut(b.emails)
    )
    return web.json_response({"shared_emails": done}, status=201)


async def unshare(request: web.Request) -> web.Response:
    b = await parse_params(request, UnshareBody)
    done = await context_of(request).vfolder_sharing.unshare(
        principal_of(request), _ref(request), _cut(b.emails)
    )
    return web.json_response({"unshared_emails": done})


async def leave(request: web.Request) -> web.Response:
    await context_of(request).vfolder_sharing.leave(principal_of(request), _ref(request))
    return web.json_response({})


def setup_invitations(app: web.Application) -> None:
    """Before ``/folders/{name}/...``, which would match these paths too."""
    r = app.router
    r.add_get("/folders/invitations/list", invitations)
    r.add_get("/folders/invitations/list-sent", sent_invitations)
    r.add_post("/folders/invitations/accept", accept)
    r.add_delete("/folders/invitations/delete", delete_invitation)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/folders/{name}/invite", invite)
    r.add_post("/folders/{name}/share", share)
    r.add_delete("/folders/{name}/unshare", unshare)
    r.add_post("/folders/{name}/leave", leave)
