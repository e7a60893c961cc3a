"""What the app proxy talks to, as small in-process servers: an app (HTTP + WebSocket), an
agent whose tunnel relays to it like the real one, and a manager that lists routes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from backendai.common.app_protocol import (
    AGENT_APP_TUNNEL,
    MANAGER_PROXY_ACTIVITY,
    MANAGER_PROXY_ROUTES,
    TICKET_QUERY,
    AppRouteSpec,
)
from backendai.common.problems import PROBLEM_BASE

TICKET = "ticket-for-tests"
BLOCK = 64 * 1024
APP_LOG = "Traceback: jupyter exited with status 1 (port in use)"


def block(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * (BLOCK // 32)


def big_digest(size: int) -> str:
    h = hashlib.sha256()
    for i in range(size // BLOCK):
        h.update(block(i))
    return h.hexdigest()


@dataclass
class UpstreamApp:
    """What the app inside the session saw."""

    seen: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    def handler_app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 2**20)

        async def echo(request: web.Request) -> web.Response:
            doc = {
                "path": request.path_qs,
                "cookie": request.headers.get("Cookie"),
                "origin": request.headers.get("Origin"),
                "host": request.headers.get("Host"),
            }
            self.seen.append(doc)
            return web.json_response(doc)

        async def upload(request: web.Request) -> web.Response:
            h, size = hashlib.sha256(), 0
            async for chunk in request.content.iter_any():
                h.update(chunk)
                size += len(chunk)
            doc = {"size": size, "sha256": h.hexdigest(), "te": request.headers.get("TE-Seen")}
            self.seen.append({"path": request.path_qs, **doc})
            return web.json_response(doc)

        async def big(request: web.Request) -> web.StreamResponse:
            size = int(request.query["size"])
            resp = web.StreamResponse(headers={"Content-Length": str(size)})
            await resp.prepare(request)
            for i in range(size // BLOCK):
                await resp.write(block(i))
            return resp

        async def ws(request: web.Request) -> web.WebSocketResponse:
            sock = web.WebSocketResponse()
            await sock.prepare(request)
            self.seen.append({"path": request.path_qs, "cookie": request.headers.get("Cookie")})
            async for msg in sock:
                if msg.type is WSMsgType.TEXT:
                    await sock.send_str("echo:" + msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await sock.send_bytes(msg.data)
            return sock

        async def refuse_upgrade(request: web.Request) -> web.Response:
            return web.Response(status=400, text="no upgrade here")

        app.router.add_route("*", "/echo{tail:.*}", echo)
        app.router.add_post("/upload", upload)
        app.router.add_get("/big", big)
        app.router.add_get("/ws", ws)
        app.router.add_get("/noupgrade", refuse_upgrade)
        return app


@dataclass
class FakeAgent:
    """The agent's tunnel: checks the ticket, then relays binary frames to a fresh TCP
    connection to the app (closing with 1000 when the app closes its end)."""

    app_port: int
    tunnels: int = 0
    queries: list[dict[str, str]] = field(default_factory=list)

    def handler_app(self) -> web.Application:
        app = web.Application()

        async def tunnel(request: web.Request) -> web.StreamResponse:
            if request.query.get(TICKET_QUERY) != TICKET:
                return _problem(403, "insufficient-privilege", "Wrong ticket.")
            if request.match_info["app"] == "broken":
                return _problem(502, "app-start-failed", f"The app exited.\n{APP_LOG}")
            self.queries.append(dict(request.query))
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            self.tunnels += 1
            reader, writer = await asyncio.open_connection("127.0.0.1", self.app_port)

            async def down() -> None:
                while data := await reader.read(256 * 1024):
                    await ws.send_bytes(data)
                await ws.close(code=1000)

            relay = asyncio.create_task(down())
            async for msg in ws:
                if msg.type is WSMsgType.BINARY:
                    writer.write(msg.data)
                    await writer.drain()
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await relay
            writer.close()
            return ws

        app.router.add_get(AGENT_APP_TUNNEL.replace("{kernel_id}", "{kernel_id}"), tunnel)
        return app


def _problem(status: int, code: str, msg: str) -> web.Response:
    body = {"type": PROBLEM_BASE + code, "title": code, "msg": msg}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/problem+json"
    )


@dataclass
class FakeManager:
    routes: list[AppRouteSpec] = field(default_factory=list)
    activity: list[dict[str, Any]] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    fail_first: int = 0  # answer 503 this many times (a manager that is starting)
    reported: asyncio.Event = field(default_factory=asyncio.Event)

    def handler_app(self) -> web.Application:
        app = web.Application()

        async def routes(request: web.Request) -> web.Response:
            self.asked.append(request.query.get("proxy", ""))
            if self.fail_first > 0:
                self.fail_first -= 1
                return web.Response(status=503)
            body = "[" + ",".join(r.model_dump_json() for r in self.routes) + "]"
            return web.json_response(text=body)

        async def activity(request: web.Request) -> web.Response:
            self.activity.append(await request.json())
            self.reported.set()
            return web.Response(status=204)

        app.router.add_get(MANAGER_PROXY_ROUTES, routes)
        app.router.add_post(MANAGER_PROXY_ACTIVITY, activity)
        return app


def free_port_range(size: int) -> range:
    """``size`` consecutive ports that nothing listens on now."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + size > 65000:
            continue
        ok = True
        for port in range(base, base + size):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return range(base, base + size)
    raise RuntimeError("no free port range")


def spec(
    agent_port: int, *, public: bool = False, token: str = "", app: str = "jupyter", **kw: Any
) -> AppRouteSpec:
    return AppRouteSpec(
        route_id=kw.pop("route_id", uuid.uuid4()),
        session_id=kw.pop("session_id", uuid.uuid4()),
        kernel_id=kw.pop("kernel_id", uuid.uuid4()),
        app=app,
        protocol="http",
        agent_addr=f"http://127.0.0.1:{agent_port}",
        ticket=TICKET,
        public=public,
        token=token or ("" if public else uuid.uuid4().hex),
        **kw,
    )
