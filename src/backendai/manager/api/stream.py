"""``/stream/session/{name}/...``: code execution over WebSocket, and the list of the session's
apps (their tunnel is ``api.apps``).

The execute stream is relayed frame by frame, verbatim, between the client and the agent's
execute WebSocket (API_CONTRACT §2.2); the agent speaks the client's protocol itself.
"""

from __future__ import annotations

import uuid

import aiohttp
from aiohttp import web

from backendai.common.errors import InvalidRequest
from backendai.common.websockets import MAX_FRAME_SIZE, relay
from backendai.manager.api.session import session_from_request
from backendai.manager.context import context_of


class RunningExecutions:
    """The agent sockets of the executions in flight, per session, so that a separate
    ``POST /session/{name}/interrupt`` can reach the code that is running."""

    def __init__(self) -> None:
        self._by_session: dict[uuid.UUID, set[aiohttp.ClientWebSocketResponse]] = {}

    def add(self, session_id: uuid.UUID, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._by_session.setdefault(session_id, set()).add(ws)

    def discard(self, session_id: uuid.UUID, ws: aiohttp.ClientWebSocketResponse) -> None:
        sockets = self._by_session.get(session_id)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                del self._by_session[session_id]

    async def interrupt(self, session_id: uuid.UUID) -> int:
        """Interrupt every execution of the session; returns how many were running."""
        sockets = list(self._by_session.get(session_id, ()))
        for ws in sockets:
            if not ws.closed:
                await ws.send_json({"interrupt": True})
        return len(sockets)


EXECUTIONS_KEY = web.AppKey("running_executions", RunningExecutions)


async def _relay_to_agent(request: web.Request, stream: str) -> web.WebSocketResponse:
    """Open the kernel's ``stream`` WebSocket on its agent and relay the client to it."""
    ctx = context_of(request)
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_SIZE)
    s = await session_from_request(request)
    if stream == "execute":
        target = await ctx.kernels.start_query(s)  # counts the query
    else:
        target = await ctx.kernels.target(s)
    if not ws.can_prepare(request).ok:
        raise InvalidRequest(
            "This route speaks WebSocket: connect with an Upgrade: websocket request."
        )
    # Right after a restart the agent may not listen yet: opening a stream changes nothing on
    # it, so it is tried again as any kernel operation is.
    agent_ws = await ctx.agent_client.retrying(
        lambda: ctx.agent_client.connect_stream(target.addr, target.kernel_id, stream)
    )
    running = request.app[EXECUTIONS_KEY]
    if stream == "execute":
        running.add(s.id, agent_ws)

    async def touch() -> None:
        await ctx.idle.touch(s.id)

    try:
        await ws.prepare(request)
        await touch()
        await relay(ws, agent_ws, touch)
    finally:
        running.discard(s.id, agent_ws)
        await agent_ws.close()
        await ws.close()
    return ws


async def execute(request: web.Request) -> web.WebSocketResponse:
    """Code execution: frames pass verbatim (API_CONTRACT §2.2)."""
    return await _relay_to_agent(request, "execute")


async def pty(request: web.Request) -> web.WebSocketResponse:
    """The session's terminal (Backend.AI's PTY frames)."""
    return await _relay_to_agent(request, "pty")


async def interrupt(request: web.Request) -> web.Response:
    """POST /session/{name}/interrupt: stop the code running in the session, keep the session."""
    s = await session_from_request(request)
    await request.app[EXECUTIONS_KEY].interrupt(s.id)
    return web.Response(status=204)


async def apps(request: web.Request) -> web.Response:
    """The session's apps (API_CONTRACT §3.1): what its agent says now, with what each allows
    and whether it runs; else the apps stored when the kernel started, in their first shape."""
    s = await session_from_request(request)
    listing = await context_of(request).apps.list(s)
    if listing.live:
        return web.json_response(
            [a.model_dump(mode="json", exclude_none=True) for a in listing.apps]
        )
    return web.json_response(
        [a.model_dump(mode="json", exclude_defaults=True) for a in listing.apps]
    )


def setup(app: web.Application) -> None:
    app[EXECUTIONS_KEY] = RunningExecutions()
    app.router.add_get("/stream/session/{name}/execute", execute)
    app.router.add_post("/session/{name}/interrupt", interrupt)
    app.router.add_get("/stream/session/{name}/pty", pty)
    app.router.add_get("/stream/session/{name}/apps", apps)
