"""A fake manager + webserver for client tests, served from its own thread.

It verifies every signed request with ``backendai.common.signing`` the way the manager does
(raw path, Host header, bare content type, literal Date header), records what it received,
and answers GraphQL by root field from canned data that tests set.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from backendai.common import signing

if TYPE_CHECKING:
    from tests.client.fake_sessions import SessionRoutes
    from tests.client.fake_sweeps import SweepRoutes

PROBS = "https://api.backend.ai/probs/"
GqlHandler = Callable[[dict[str, Any]], Any]
_ROOT_FIELD = re.compile(r"\{\s*(\w+)")


@dataclass
class Recorded:
    method: str
    path: str  # raw path + query as received
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def problem(status: int, slug: str, title: str, msg: str | None = None) -> web.Response:
    body: dict[str, Any] = {"type": PROBS + slug, "title": title}
    if msg is not None:
        body["msg"] = msg
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/problem+json"
    )


@dataclass
class FakeBackend:
    keys: dict[str, str] = field(default_factory=dict)  # access key -> secret key
    users: dict[str, str] = field(default_factory=dict)  # email -> password
    version: str = signing.API_VERSION
    manager_version: str | None = "20.09.9"
    announcement: dict[str, Any] = field(default_factory=lambda: {"enabled": False, "message": ""})
    gql: dict[str, Any] = field(default_factory=dict)  # root field -> data or handler
    gql_errors: list[dict[str, Any]] | None = None
    requests: list[Recorded] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    cookie_name: str = "AIOHTTP_SESSION"
    sessions: SessionRoutes = field(init=False)
    sweeps: SweepRoutes = field(init=False)

    def __post_init__(self) -> None:
        from tests.client.fake_sessions import SessionRoutes  # it imports this module

        self.sessions = SessionRoutes(self)
        from tests.client.fake_sweeps import SweepRoutes

        self.sweeps = SweepRoutes(self)

    # -- inspection helpers -------------------------------------------------------------

    def gql_requests(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests if r.path.endswith("/admin/gql")]

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    # -- the app ------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/", self._version)
        app.router.add_get("/func/", self._version)
        app.router.add_post("/server/login", self._login)
        app.router.add_post("/server/logout", self._logout)
        for prefix in ("", "/func"):
            app.router.add_get(prefix + "/manager/announcement", self._announcement)
            app.router.add_post(prefix + "/admin/gql", self._gql)
            app.router.add_post(prefix + "/admin/graphql", self._legacy_gql)
            app.router.add_route("*", prefix + "/echo/{tail:.*}", self._echo)
        app.router.add_get("/fail/{status}", self._fail)
        self.sweeps.add_routes(app)  # first: /session/{name}/logs would take /session/_/logs
        self.sessions.add_routes(app)
        return app

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(request.method, request.raw_path, dict(request.headers), body)
        )
        response: web.StreamResponse = await handler(request)
        return response

    def _authenticate(self, request: web.Request) -> web.Response | None:
        """None when the request may go on; otherwise the 401 answer."""
        if request.path.startswith("/func/"):
            if request.cookies.get(self.cookie_name) in self.tokens:
                return None
            return problem(401, "auth-failed", "Authentication failed.", "not logged in")
        header = request.headers.get("Authorization")
        if header is None:
            return problem(401, "auth-failed", "Authentication failed.", "no signature")
        _, access_key, signature = signing.parse_authorization(header)
        secret = self.keys.get(access_key)
        if secret is None:
            return problem(401, "auth-failed", "Authentication failed.", "unknown access key")
        date_header = request.headers["Date"]
        expected = signing.sign(
            secret,
            method=request.method,
            rel_url=request.raw_path,
            date=datetime.fromisoformat(date_header),
            date_header=date_header,
            host=request.headers.get("Host", ""),
            content_type=request.content_type,
            api_version=request.headers.get("X-BackendAI-Version", ""),
        )
        if expected != signature:
            return problem(401, "auth-failed", "Authentication failed.", "Signature mismatch")
        return None

    async def _version(self, request: web.Request) -> web.Response:
        if "Authorization" in request.headers and (denied := self._authenticate(request)):
            return denied
        body: dict[str, Any] = {"version": self.version}
        if self.manager_version is not None:
            body["manager"] = self.manager_version
        return web.json_response(body)

    async def _announcement(self, request: web.Request) -> web.Response:
        return self._authenticate(request) or web.json_response(self.announcement)

    async def _echo(self, request: web.Request) -> web.Response:
        if denied := self._authenticate(request):
            return denied
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "path": request.raw_path,
                "content_type": request.content_type,
                "json": json.loads(body) if body else None,
            }
        )

    async def _fail(self, request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        if request.query.get("raw"):
            return web.Response(status=status, text="upstream exploded")
        return problem(status, "generic-bad-request", "Bad request.", "you asked for it")

    async def _gql(self, request: web.Request) -> web.Response:
        if denied := self._authenticate(request):
            return denied
        body = await request.json()
        if self.gql_errors:
            return web.json_response({"data": None, "errors": self.gql_errors})
        match = _ROOT_FIELD.search(body["query"])
        root = match.group(1) if match else ""
        if root not in self.gql:
            return web.json_response(
                {"data": None, "errors": [{"message": f"Unknown field {root}"}]}
            )
        answer = self.gql[root]
        data = answer(body.get("variables") or {}) if callable(answer) else answer
        return web.json_response({"data": {root: data}, "errors": None})

    async def _legacy_gql(self, request: web.Request) -> web.Response:
        """Before v6.20210815: bare data, no envelope."""
        if denied := self._authenticate(request):
            return denied
        body = await request.json()
        match = _ROOT_FIELD.search(body["query"])
        root = match.group(1) if match else ""
        return web.json_response({root: self.gql.get(root)})

    async def _login(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.users.get(body.get("username")) != body.get("password"):
            return web.json_response(
                {"authenticated": False, "data": {"type": PROBS + "auth-failed"}}
            )
        token = f"token-{len(self.tokens) + 1}"
        self.tokens.add(token)
        response = web.json_response({"authenticated": True, "data": {"access_key": "AK"}})
        response.set_cookie(self.cookie_name, token, httponly=True, path="/")
        return response

    async def _logout(self, request: web.Request) -> web.Response:
        self.tokens.discard(request.cookies.get(self.cookie_name, ""))
        return web.json_response({}, status=201)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerThread:
    """Serves an aiohttp app on 127.0.0.1 from a background thread and loop."""

    def __init__(self, app: web.Application) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()
        if self._runner is not None:
            self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    async def _start(self) -> None:
        self._runner = web.AppRunner(self._app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
