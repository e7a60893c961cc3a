"""The manager with the real agent process code (on its fake container backend): the two
sides of ``agent_protocol`` agree, from heartbeat to terminate."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from backendai.agent.backends.fake import FakeBackend
from backendai.agent.main import create_app as create_agent_app
from backendai.agent.settings import AgentSettings
from backendai.common.statuses import SessionStatus
from backendai.manager.db.models import Agent
from tests.fixtures.live import free_port
from tests.fixtures.platform import TEST_AGENT_TOKEN, ManagerHarness, running_manager
from tests.manager.conftest import FAST, create, wait_status


async def _wait_joined(manager: ManagerHarness, agent_id: str, within: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        async with manager.ctx.db() as db:
            if await db.get(Agent, agent_id) is not None:
                return
        assert loop.time() < deadline, "the agent never sent a heartbeat"
        await asyncio.sleep(0.05)


@pytest.fixture
async def with_agent(tmp_path: Path) -> AsyncIterator[ManagerHarness]:
    # Unix socket paths are short (108 bytes): pytest's tmp_path can be too long for them.
    short = Path(tempfile.mkdtemp(prefix="bai-agent-", dir="/tmp"))
    async with running_manager(tmp_path, **FAST) as manager:
        port = free_port()
        settings = AgentSettings(
            token=TEST_AGENT_TOKEN, manager_url=manager.url, data_dir=short,
            backend="fake", heartbeat_interval=0.2, host="127.0.0.1", port=port,
            public_addr=f"http://127.0.0.1:{port}",
        )  # fmt: skip
        server = TestServer(create_agent_app(settings, FakeBackend()), host="127.0.0.1", port=port)
        await server.start_server()
        try:
            await _wait_joined(manager, settings.id)
            yield manager
        finally:
            await server.close()
            shutil.rmtree(short, ignore_errors=True)


async def test_session_round_trip(with_agent: ManagerHarness) -> None:
    manager = with_agent
    status, body = await create(manager, "real-1", maxWaitSeconds=30)
    assert status == 201 and body["status"] == "RUNNING", body
    sid = body["sessionId"]
    path = f"/stream/session/{sid}/execute"
    ws = await manager.client.ws_connect(path, headers=manager.stream_headers(path))
    await ws.send_str(json.dumps({"code": "print(6 * 7)", "mode": "query", "options": {}}))
    frames = []
    while not frames or frames[-1].get("status") != "finished":
        frames.append(await ws.receive_json(timeout=20))
    await ws.close()
    assert "42" in "".join(d for f in frames for t, d in f.get("console", []) if t == "stdout")
    resp = await manager.upload("/session/real-1/upload", [("dir/a.txt", b"hello")])
    assert resp.status == 204
    resp = await manager.signed("GET", "/session/real-1/files", body={"path": "dir"})
    assert [f["filename"] for f in json.loads((await resp.json())["files"])] == ["a.txt"]
    resp = await manager.signed("DELETE", "/session/real-1")
    assert resp.status == 200 and (await resp.json())["stats"]["status"] == "terminated"
    await wait_status(manager, sid, SessionStatus.TERMINATED)
