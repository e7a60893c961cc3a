"""Agent fixtures: an agent app on the fake backend, a stub manager, a runner on the host."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent import runner
from backendai.agent.backends.fake import FakeBackend
from backendai.agent.main import create_app
from backendai.agent.settings import AgentSettings
from backendai.common.agent_protocol import AGENT_TOKEN_HEADER

TOKEN = "test-agent-token-0123456789"
HEADERS = {AGENT_TOKEN_HEADER: TOKEN}
IMAGE = "backendai/python:3.11-debian12"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A data dir with a short path: unix socket paths are limited to 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="bai", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_settings(data_dir: Path, **overrides: Any) -> AgentSettings:
    values: dict[str, Any] = {
        "token": TOKEN,
        "data_dir": data_dir,
        "manager_url": None,
        "id": "test-agent",
        "cpu": 4,
        "mem": 8 * 2**30,
        "pool_size": 0,  # the warm pool's own tests turn it on (test_pool*.py)
        "network_spares": 0,  # so do the spare networks' (test_network_spares*.py)
    }
    return AgentSettings(**(values | overrides))


def create_body(kernel_id: uuid.UUID | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kernel_id": str(kernel_id or uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
        "session_name": "test-session",
        "image": IMAGE,
        "slots": {"cpu": "1", "mem": str(512 * 2**20)},
    }
    return body | overrides


@dataclass
class Agent:
    client: TestClient[Any, Any]
    backend: FakeBackend
    settings: AgentSettings

    async def create(self, **overrides: Any) -> dict[str, Any]:
        resp = await self.client.post("/v1/kernels", json=create_body(**overrides), headers=HEADERS)
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())

    async def execute(
        self,
        kernel_id: str,
        code: str = "",
        mode: str = "query",
        options: dict[str, Any] | None = None,
        inputs: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        return await run_ws(
            self.client, f"/v1/kernels/{kernel_id}/execute", code, mode, options, inputs, HEADERS
        )


async def run_ws(
    client: TestClient[Any, Any] | aiohttp.ClientSession,
    url: str,
    code: str,
    mode: str = "query",
    options: dict[str, Any] | None = None,
    inputs: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One execution over the agent's WebSocket; every frame until finished."""
    pending = list(inputs or [])
    frames = []
    async with client.ws_connect(url, headers=headers) as ws:
        await ws.send_json({"code": code, "mode": mode, "options": options or {}})
        async for message in ws:
            frame = json.loads(message.data)
            frames.append(frame)
            if frame["status"] == "waiting-input":
                await ws.send_str(pending.pop(0))
            if frame["status"] == "finished":
                break
    return frames


def console(frames: list[dict[str, Any]], stream: str = "stdout") -> str:
    return "".join(text for f in frames for kind, text in f["console"] if kind == stream)


@pytest.fixture
async def agent(short_dir: Path) -> AsyncIterator[Agent]:
    backend = FakeBackend()
    settings = make_settings(short_dir)
    async with TestClient(TestServer(create_app(settings, backend))) as client:
        yield Agent(client, backend, settings)
    await backend.close()


@dataclass
class StubManager:
    """Records what agents report to the manager's internal API."""

    url: str = ""
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[str | None] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, what: str, count: int = 1) -> None:
        async with asyncio.timeout(10):
            while len(getattr(self, what)) < count:
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def manager() -> AsyncIterator[StubManager]:
    stub = StubManager()

    async def heartbeat(request: web.Request) -> web.Response:
        stub.tokens.append(request.headers.get(AGENT_TOKEN_HEADER))
        stub.heartbeats.append(await request.json())
        stub.changed.set()
        return web.json_response({})

    async def event(request: web.Request) -> web.Response:
        stub.events.append(await request.json())
        stub.changed.set()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/internal/agents/heartbeat", heartbeat)
    app.router.add_post("/internal/agents/events", event)
    server = TestServer(app)
    await server.start_server()
    stub.url = str(server.make_url("")).rstrip("/")
    yield stub
    await server.close()


@dataclass
class HostRunner:
    """The runner started directly on the host, as a container would start it."""

    socket: Path
    workdir: Path
    process: subprocess.Popen[bytes]


@pytest.fixture
def host_runner(short_dir: Path) -> Iterator[HostRunner]:
    workdir = short_dir / "work"
    workdir.mkdir()
    sock = short_dir / "r.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", "--socket", str(sock), "--workdir", str(workdir)],
        cwd=Path(runner.__file__).parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(1000):  # the socket appears once the runner listens
        if sock.exists():
            break
        time.sleep(0.01)
    yield HostRunner(sock, workdir, process)
    process.terminate()
    process.wait(timeout=10)
