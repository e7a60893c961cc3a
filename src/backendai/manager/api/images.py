"""``POST /session/{name}/commit`` (a session to a private image) and
``GET /events/background-task`` (the stream Backend.AI's client follows after a rescan).

Client 20.9.9 has no commit call; ours is shaped like the other session calls
(``?owner_access_key=`` for an admin acting on a user's session). Rescans finish before their
task id is handed out (``rescan_images`` answers when done), so a task's stream reports it done
at once and closes, as the client expects (``server_close``).
"""

from __future__ import annotations

import json
import uuid

from aiohttp import web

from backendai.common.errors import InvalidRequest
from backendai.common.image_commit import CommitSessionRequest
from backendai.manager.api.params import parse_params
from backendai.manager.api.session import session_from_request
from backendai.manager.authz import Action
from backendai.manager.context import context_of
from backendai.manager.services.image_commit import ImageCommitter


async def commit(request: web.Request) -> web.Response:
    params = await parse_params(request, CommitSessionRequest)
    s = await session_from_request(request, action=Action.COMMIT)
    ctx = context_of(request)
    result = await ImageCommitter(ctx.db, ctx.agent_client).commit(s, params)
    return web.json_response(result.model_dump(mode="json"), status=201)


async def background_task_events(request: web.Request) -> web.StreamResponse:
    raw = request.query.get("task_id") or request.query.get("taskId") or ""
    try:
        task_id = uuid.UUID(raw)
    except ValueError:
        raise InvalidRequest("task_id must be the UUID of a background task.") from None
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await resp.prepare(request)
    for event, data in (
        ("task_done", {"task_id": str(task_id), "message": "done"}),
        ("server_close", {}),
    ):
        await resp.write(f"event: {event}\r\ndata: {json.dumps(data)}\r\n\r\n".encode())
    return resp


def setup(app: web.Application) -> None:
    app.router.add_post("/session/{name}/commit", commit)
    app.router.add_get("/events/background-task", background_task_events)
