"""``GET /events/session``: lifecycle events as server-sent events (API_CONTRACT §4).

A listener may name a session that does not exist yet. Once the session it follows ends
(session_terminated or session_cancelled), the stream sends ``server_close`` so that the
client stops instead of reconnecting forever.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from aiohttp import web
from pydantic import AliasChoices, BaseModel, Field

from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import validate
from backendai.manager.context import context_of
from backendai.manager.events import EventFilter
from backendai.manager.services.session_lookup import listener_scope_for

SERVER_CLOSE = "server_close"


class SessionEventParams(BaseModel):
    session_name: str = Field(default="*", validation_alias=AliasChoices("sessionName", "name"))
    session_id: uuid.UUID | None = Field(default=None, validation_alias="sessionId")
    owner_access_key: str | None = Field(
        default=None, validation_alias=AliasChoices("ownerAccessKey", "owner_access_key")
    )
    group: str = Field(default="*", validation_alias=AliasChoices("group", "groupName"))
    scope: Literal["*", "session", "kernel"] = "*"


async def _filter(request: web.Request, params: SessionEventParams) -> tuple[EventFilter, bool]:
    """The listener's filter, and whether the session it follows has already ended."""
    scope = await listener_scope_for(
        context_of(request).db,
        principal_of(request),
        params.owner_access_key,
        None if params.group == "*" else params.group,
        params.session_id,
    )
    flt = EventFilter(
        owner_access_key=scope.access_key,
        session_name=params.session_name or "*",
        session_id=params.session_id,
        group_id=scope.group_id,
        scope=params.scope,
    )
    return flt, scope.ended


async def _send(resp: web.StreamResponse, event: str, data: dict[str, Any]) -> None:
    await resp.write(f"event: {event}\r\ndata: {json.dumps(data)}\r\n\r\n".encode())


async def session_events(request: web.Request) -> web.StreamResponse:
    params = validate(SessionEventParams, dict(request.query))
    flt, ended = await _filter(request, params)
    ctx = context_of(request)
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    async with ctx.events.subscribe() as sub:
        await resp.prepare(request)
        try:
            if ended:
                await _send(resp, SERVER_CLOSE, {})
                return resp
            while True:
                try:
                    ev = await sub.get(max_wait=ctx.settings.sse_ping_interval)
                except EOFError:  # the manager is shutting down, or we fell behind
                    break
                if ev is None:
                    await resp.write(b": ping\r\n\r\n")
                    continue
                if not flt.matches(ev):
                    continue
                await _send(resp, ev.name.value, ev.wire_data())
                if ev.name.ends_session and flt.follows_one_session:
                    await _send(resp, SERVER_CLOSE, {})
                    break
        except ConnectionResetError:  # the client went away
            return resp
    return resp


def setup(app: web.Application) -> None:
    app.router.add_get("/events/session", session_events)
