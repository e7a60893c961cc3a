"""The app routes of the fake manager (API_CONTRACT §3) and a way to run the real CLI against
it as a child process (``app`` and ``ssh`` serve until a signal, so they cannot run in-process).

Shared by ``test_cli_app.py`` and ``test_cli_ssh.py``; it holds no tests itself. What the
tcpproxy WebSocket does depends on the app's name:

* ``echo``, ``ttyd``, ``sshd``: every binary frame is sent back;
* ``source``: sends ``envs["SIZE"]`` pseudo-random bytes, then closes with 1000;
* ``sink``: reads ``envs["SIZE"]`` bytes, answers their sha256 (hex), then closes with 1000;
* ``broken``: closes at once with 1011 and a reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.client.conftest import ACCESS_KEY, SECRET_KEY
from tests.client.fake_server import FakeBackend, ServerThread, problem
from tests.client.fake_sessions import FakeSession

OURS = Path(sys.executable).with_name("backend.ai")
SESSION = "app-test"
DEFAULT_APPS: list[dict[str, Any]] = [
    {"name": "ttyd", "protocol": "http", "ports": [7681], "running": True},
    {"name": "sshd", "protocol": "tcp", "ports": [2200]},
    {"name": "echo", "protocol": "tcp", "ports": [9000],
     "allowed_arguments": {"--foo": "str", "--flag": None}, "allowed_envs": ["SIZE", "A"]},
    {"name": "source", "protocol": "tcp", "ports": [9001]},
    {"name": "sink", "protocol": "tcp", "ports": [9002]},
    {"name": "broken", "protocol": "tcp", "ports": [9003]},
    {"name": "jupyter", "protocol": "http", "ports": [8888],
     "url_template": "{protocol}://{host}:{port}/tree?x=1"},
]  # fmt: skip


def pseudo_random(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass
class FakeApps:
    backend: FakeBackend
    apps: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {SESSION: [dict(a) for a in DEFAULT_APPS]}
    )
    refuse: tuple[int, str] | None = None  # answer the tcpproxy handshake with this problem
    queries: list[dict[str, str]] = field(default_factory=list)
    opened: int = 0
    live: int = 0
    peak: int = 0
    routes: dict[str, dict[str, Any]] = field(default_factory=dict)  # app -> AppOpened
    open_bodies: list[dict[str, Any]] = field(default_factory=list)

    def install(self, app: web.Application) -> None:
        app.router.add_get("/stream/session/{name}/apps", self._list)
        app.router.add_get("/stream/session/{name}/tcpproxy", self._tcpproxy)
        app.router.add_post("/session/{name}/apps/{app}", self._open)
        app.router.add_delete("/session/{name}/apps/{app}", self._close)
        app.router.add_get("/session/{name}/apps", self._routes)

    def _apps_of(self, request: web.Request) -> list[dict[str, Any]] | web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        apps = self.apps.get(request.match_info["name"])
        if apps is None:
            return problem(404, "session-not-found", "No such session.")
        return apps

    async def _list(self, request: web.Request) -> web.Response:
        apps = self._apps_of(request)
        return apps if isinstance(apps, web.Response) else web.json_response(apps)

    async def _tcpproxy(self, request: web.Request) -> web.StreamResponse:
        apps = self._apps_of(request)
        if isinstance(apps, web.Response):
            return apps
        query = dict(request.query)
        self.queries.append(query)
        if self.refuse is not None:
            return problem(self.refuse[0], "app-start-failed", self.refuse[1])
        name = query.get("app", "")
        if not any(a["name"] == name for a in apps):
            return problem(404, "app-not-found", f"No app {name}.")
        envs = json.loads(query.get("envs", "{}"))
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.opened += 1
        self.live += 1
        self.peak = max(self.peak, self.live)
        try:
            await self._play(ws, name, int(envs.get("SIZE", 0)))
        finally:
            self.live -= 1
        return ws

    async def _play(self, ws: web.WebSocketResponse, name: str, size: int) -> None:
        if name == "broken":
            await ws.close(code=1011, message=b"the app crashed")
        elif name == "source":
            data = pseudo_random(size)
            for start in range(0, size, 100_000):
                await ws.send_bytes(data[start : start + 100_000])
            await ws.close()
        elif name == "sink":
            digest, received = hashlib.sha256(), 0
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.BINARY:
                    digest.update(msg.data)
                    received += len(msg.data)
                    if received >= size:
                        break
            await ws.send_bytes(digest.hexdigest().encode())
            await ws.close()
        else:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)

    async def _open(self, request: web.Request) -> web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        body = await request.json()
        self.open_bodies.append(body)
        app = request.match_info["app"]
        opened = {
            "app": app, "route_id": "6f1c1f52-9f3e-4a4e-8d4c-2a3b4c5d6e7f", "port": 10250,
            "public": body["open_to_public"], "url": "http://127.0.0.1:10250/?app_token=t",
            "proxy": "local",
        }  # fmt: skip
        self.routes[app] = opened
        return web.json_response(opened)

    async def _close(self, request: web.Request) -> web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        self.routes.pop(request.match_info["app"], None)
        return web.Response(status=204)

    async def _routes(self, request: web.Request) -> web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        return web.json_response(list(self.routes.values()))


def start_server(backend: FakeBackend) -> tuple[ServerThread, FakeApps]:
    fake = FakeApps(backend)
    app = backend.app()
    fake.install(app)
    backend.sessions.sessions[SESSION] = FakeSession(SESSION, "python")
    return ServerThread(app).start(), fake


def cli_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKEND_")}
    return (
        env
        | {
            "BACKEND_ENDPOINT": url,
            "BACKEND_ENDPOINT_TYPE": "api",
            "BACKEND_ACCESS_KEY": ACCESS_KEY,
            "BACKEND_SECRET_KEY": SECRET_KEY,
        }
        | extra
    )


class CLIProcess:
    """``backend.ai ARGS`` as a child process whose stderr lines are collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            [str(OURS), *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 20) -> str:
        """The first stderr line containing ``text``; fails if the process ends first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {timeout}s: {self.lines}") from None
            if line is None:
                raise AssertionError(f"exited ({self.proc.wait()}) before {text!r}: {self.lines}")
            self.lines.append(line)
            if text in line:
                return line

    def finish(self, timeout: float = 20) -> tuple[int, str, str]:
        """Wait for the exit; (code, stdout, all of stderr)."""
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        while (line := self._queue.get_nowait() if not self._queue.empty() else None) is not None:
            self.lines.append(line)
        assert self.proc.stdout is not None
        return code, self.proc.stdout.read(), "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
