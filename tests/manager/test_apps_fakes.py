"""Fakes for the app tests (no tests here): an agent with the app routes of
``backendai.common.app_protocol`` (a tunnel that greets and echoes), and an app proxy's control
API with a small port pool. Both record what reached them."""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer

from backendai.common.app_protocol import (
    APPPROXY_TOKEN_HEADER,
    AppInfo,
    AppRoute,
    AppRouteSpec,
    AppStarted,
    AppStartRequest,
    AppStopped,
    ProxyStatus,
)
from backendai.common.statuses import UserRole
from backendai.manager.db.models import Group
from backendai.manager.services.bootstrap import Credentials, create_user
from tests.fixtures.platform import ManagerHarness
from tests.manager.fake_agent import FakeAgent

TEST_APPPROXY_TOKEN = "test-appproxy-token-0123456789"
PROBS = "https://api.backend.ai/probs/"
APPS = [
    AppInfo(name="ttyd", protocol="http", ports=[7681]),
    AppInfo(name="sshd", protocol="tcp", ports=[2200], allowed_arguments={"--port": "int"},
            allowed_envs=["SSH_GREETING"]),
    AppInfo(name="jupyter", protocol="http", ports=[8080], allowed_arguments=["--debug"]),
    AppInfo(name="broken", protocol="http", ports=[8888]),
]  # fmt: skip
BROKEN_LOG = "Traceback: ImportError: no module named notebook"


def _problem(status: int, code: str, msg: str) -> web.Response:
    body = {"type": PROBS + code, "title": code, "msg": msg}
    return web.json_response(body, status=status)


class AppAgent(FakeAgent):
    def __init__(self, agent_id: str = "agent-1", **kw: Any) -> None:
        self.running: set[tuple[uuid.UUID, str]] = set()
        self.start_calls: list[tuple[str, AppStartRequest]] = []
        self.stop_calls: list[str] = []
        self.tunnel_frames: list[bytes] = []
        self.tunnel_queries: list[dict[str, str]] = []
        self.apps_down = False  # answer the app list with a 500 (an agent that cannot say)
        super().__init__(agent_id, **kw)

    def _app(self) -> web.Application:
        app = super()._app()
        app.router.add_get("/v1/kernels/{kid}/apps", self._apps)
        app.router.add_post("/v1/kernels/{kid}/apps/{app}/start", self._start)
        app.router.add_post("/v1/kernels/{kid}/apps/{app}/stop", self._stop)
        app.router.add_get("/v1/kernels/{kid}/apps/{app}/tunnel", self._tunnel)
        return app

    def _info(self, name: str) -> AppInfo | None:
        return next((a for a in APPS if a.name == name), None)

    async def _apps(self, request: web.Request) -> web.Response:
        kid = self._kid(request)
        if self.apps_down:
            return _problem(500, "agent-error", "the runner does not answer")
        listed = [a.model_copy(update={"running": (kid, a.name) in self.running}) for a in APPS]
        return web.json_response([a.model_dump(mode="json") for a in listed])

    async def _start(self, request: web.Request) -> web.Response:
        kid = self._kid(request)
        name = request.match_info["app"]
        req = AppStartRequest.model_validate(await request.json())
        self.start_calls.append((name, req))
        info = self._info(name)
        if info is None:
            return _problem(404, "app-not-found", f"No app {name!r} in this session.")
        if name == "broken":
            return _problem(502, "app-start-failed", f"The app broken exited.\n{BROKEN_LOG}")
        allowed = info.allowed_arguments or {}
        for arg in req.arguments:
            if arg not in allowed:
                return _problem(400, "invalid-api-params", f"The app does not allow {arg}.")
        started = (kid, name) not in self.running
        self.running.add((kid, name))
        answer = AppStarted(name=name, port=info.ports[0], started=started)
        return web.json_response(answer.model_dump(mode="json"))

    async def _stop(self, request: web.Request) -> web.Response:
        kid = self._kid(request)
        name = request.match_info["app"]
        self.stop_calls.append(name)
        stopped = (kid, name) in self.running
        self.running.discard((kid, name))
        return web.json_response(AppStopped(name=name, stopped=stopped).model_dump(mode="json"))

    async def _tunnel(self, request: web.Request) -> web.StreamResponse:
        kid = self._kid(request)
        name = request.match_info["app"]
        if self._info(name) is None:
            return _problem(404, "app-not-found", f"No app {name!r}.")
        self.tunnel_queries.append(dict(request.query))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_bytes(f"hello from {name} in {kid}".encode())
        async for msg in ws:
            self.tunnel_frames.append(msg.data)
            if msg.data == b"bye":
                break
            await ws.send_bytes(b"echo:" + msg.data)
        await ws.close()  # the app closed its end: 1000
        return ws


class FakeProxy:
    """An app proxy's control API: routes on ports ``pool``, 503 when the pool is full."""

    def __init__(self, proxy_id: str, pool: list[int], token: str = TEST_APPPROXY_TOKEN) -> None:
        self.id = proxy_id
        self.pool = pool
        self.token = token
        self.routes: dict[uuid.UUID, tuple[AppRouteSpec, int]] = {}
        self.puts: list[AppRouteSpec] = []
        self.deletes: list[uuid.UUID] = []
        self.busy = 0  # routes it reports beyond its own (other managers' say)
        app = web.Application()
        app.router.add_put("/v1/routes/{rid}", self._put)
        app.router.add_delete("/v1/routes/{rid}", self._delete)
        app.router.add_get("/v1/routes", self._list)
        app.router.add_get("/v1/status", self._status)
        self.server = TestServer(app)

    @property
    def endpoint(self) -> dict[str, str]:
        return {"id": self.id, "url": f"http://{self.server.host}:{self.server.port}"}

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get(APPPROXY_TOKEN_HEADER) == self.token

    def _route(self, spec: AppRouteSpec, port: int) -> AppRoute:
        url = f"http://{self.id}.proxy.test:{port}/"
        return AppRoute(route_id=spec.route_id, port=port, url=url, public=spec.public)

    async def _put(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _problem(401, "auth-failed", "bad token")
        spec = AppRouteSpec.model_validate(await request.json())
        self.puts.append(spec)
        taken = {port for rid, (_, port) in self.routes.items() if rid != spec.route_id}
        free = [p for p in self.pool if p not in taken]
        old = self.routes.get(spec.route_id)
        wanted = [p for p in (old and old[1], spec.port, spec.preferred_port) if p in free]
        if not free:
            return _problem(503, "appproxy-unavailable", "no free port")
        port = wanted[0] if wanted else free[0]
        self.routes[spec.route_id] = (spec, port)
        return web.json_response(self._route(spec, port).model_dump(mode="json"))

    async def _delete(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _problem(401, "auth-failed", "bad token")
        rid = uuid.UUID(request.match_info["rid"])
        self.deletes.append(rid)
        self.routes.pop(rid, None)
        return web.Response(status=204)

    async def _list(self, request: web.Request) -> web.Response:
        routes = [self._route(s, p).model_dump(mode="json") for s, p in self.routes.values()]
        return web.json_response(routes)

    async def _status(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _problem(401, "auth-failed", "bad token")
        status = ProxyStatus(id=self.id, ports=len(self.pool), routes=len(self.routes) + self.busy)
        return web.json_response(json.loads(status.model_dump_json()))


async def other_user(harness: ManagerHarness, name: str = "mallory") -> Credentials:
    """A second plain user in the default domain and group."""
    async with harness.ctx.db() as db, db.begin():
        group = await db.scalar(
            sa.select(Group.id).where(Group.name == "default", Group.domain_name == "default")
        )
        assert group is not None
        return await create_user(
            db, email=f"{name}@example.com", role=UserRole.USER, group_id=group
        )


async def call_as(
    harness: ManagerHarness, creds: Credentials, method: str, rel_url: str, body: Any = None
) -> tuple[int, Any]:
    ctype = "application/json" if body is not None else "text/plain"
    headers = harness.headers(creds.access_key, creds.secret_key, method, rel_url, ctype)
    data = None if body is None else json.dumps(body)
    async with harness.client.request(method, rel_url, data=data, headers=headers) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


def stream_headers_as(harness: ManagerHarness, creds: Credentials, rel_url: str) -> dict[str, str]:
    headers = harness.headers(
        creds.access_key, creds.secret_key, "GET", rel_url, "application/octet-stream"
    )
    del headers["Content-Type"]
    return headers
