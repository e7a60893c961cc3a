"""A manager that answers ``run --rm -c ...`` instantly, to measure a client's own cost.

It speaks just enough of the API for one ``run``: the version probe, the announcement, a
session create that is RUNNING at once, an execution that prints ``1``, the terminate. It
checks no signature and keeps nothing. Run in a thread by ``StubManager``; the time a client
takes against it is its floor: what no server, however fast, can take away.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import uuid
from typing import Any

from aiohttp import web

API_VERSION = "v6.20210815"


async def _root(request: web.Request) -> web.Response:
    return web.json_response({"version": API_VERSION, "manager": "stub"})


async def _announcement(request: web.Request) -> web.Response:
    return web.json_response({"enabled": False, "message": ""})


async def _create(request: web.Request) -> web.Response:
    body: dict[str, Any] = await request.json()
    name = body.get("name") or body.get("clientSessionToken") or "stub"
    return web.json_response(
        {
            "sessionId": str(uuid.uuid4()),
            "sessionName": name,
            "status": "RUNNING",
            "created": True,
            "servicePorts": [],
        },
        status=201,
    )


async def _execute(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.receive()
    frame = {"status": "finished", "console": [["stdout", "1\n"]], "exitCode": 0,
             "options": {}, "files": []}  # fmt: skip
    await ws.send_str(json.dumps(frame))
    await ws.close()
    return ws


async def _terminate(request: web.Request) -> web.Response:
    return web.json_response({"stats": None})


def _app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", _root)
    app.router.add_get("/manager/announcement", _announcement)
    app.router.add_post("/session", _create)
    app.router.add_get("/stream/session/{name}/execute", _execute)
    app.router.add_delete("/session/{name}", _terminate)
    return app


class StubManager:
    """The stub on a free local port, served from a thread of its own."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(_app(), access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> StubManager:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
